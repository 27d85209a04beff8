import { assert, assertEquals } from "../../tests/harness/assert.ts";
import { StorePathSchema } from "./store_path_schema.ts";

Deno.test("StorePathSchema gives zod the parser's words, so the issue names the field", () => {
  const r = StorePathSchema.safeParse("demo-kv/data/../x");
  assert(!r.success);
  assertEquals(
    r.error.issues[0]!.message,
    'Invalid store path "demo-kv/data/../x": segment ".." is not allowed',
  );
});
