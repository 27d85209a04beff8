import { assertEquals, assertStringIncludes, assertThrows } from "../../tests/harness/assert.ts";
import { checkPath, StoreClient } from "./client.ts";

Deno.test("checkPath() accepts API paths with or without a leading /v1/", () => {
  assertEquals(checkPath("demo-kv/data/myapp-secret"), "demo-kv/data/myapp-secret");
  assertEquals(checkPath("/v1/demo-kv/data/myapp-secret"), "demo-kv/data/myapp-secret");
});

Deno.test("checkPath() rejects empty, dot and double-slash segments, naming the path", () => {
  for (const bad of ["", "a//b", "a/../sys/seal", "./a", "a/"]) {
    const e = assertThrows(() => checkPath(bad), TypeError);
    assertStringIncludes(e.message, `"${bad}"`);
  }
});

Deno.test("StoreClient refuses an address that is not an http(s) URL", () => {
  assertStringIncludes(
    assertThrows(() => new StoreClient({ address: "stronghold:8200" }), TypeError).message,
    "stronghold:8200",
  );
  assertStringIncludes(
    assertThrows(() => new StoreClient({ address: "ftp://x" }), TypeError).message,
    "https",
  );
});
