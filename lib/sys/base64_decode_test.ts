import { assertEquals } from "../../tests/harness/assert.ts";
import { decodeBase64Strict } from "./base64_decode.ts";

Deno.test("decodeBase64Strict() accepts wrapped lines, refuses anything not base64", () => {
  assertEquals(decodeBase64Strict("aGVs\nbG8=\n"), new TextEncoder().encode("hello"));
  for (const bad of ["aGVsbG8", "aGVs bG8=", "a===", "!!!!", "aGVsbG8=x"]) {
    assertEquals(decodeBase64Strict(bad), undefined, bad);
  }
});
