import { assertEquals } from "../../tests/harness/assert.ts";
import { sameBytes } from "./bytes.ts";

Deno.test("sameBytes() tells equal from different bytes, aligned or not, in words and tail", () => {
  const a = new Uint8Array(1027).map((_, i) => i % 251);
  const b = a.slice();
  assertEquals(sameBytes(a, b), true);
  assertEquals(sameBytes(a.subarray(1), b.subarray(1)), true, "unaligned views");
  for (const at of [0, 512, 1026]) {
    const c = a.slice();
    c[at]! ^= 1;
    assertEquals(sameBytes(a, c), false, `difference at ${at}`);
    assertEquals(sameBytes(a.subarray(1), c.subarray(1)), at === 0, `unaligned, at ${at}`);
  }
  assertEquals(sameBytes(a, a.subarray(0, 1026)), false, "lengths differ");
  assertEquals(sameBytes(new Uint8Array(), new Uint8Array()), true);
});
