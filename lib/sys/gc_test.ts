import { assert, assertEquals } from "../../tests/harness/assert.ts";
import { collectGarbage } from "./gc.ts";

Deno.test("collectGarbage() runs a full collection and frees what is no longer reachable", async () => {
  const ref = new WeakRef(Array.from({ length: 200_000 }, (_, i) => ({ i })));
  // A WeakRef's target stays alive until the current job ends.
  await new Promise((resolve) => setTimeout(resolve, 0));
  assertEquals(collectGarbage(), true);
  assert(ref.deref() === undefined, "the array is still alive after a full collection");
});
