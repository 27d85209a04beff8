import { assertEquals, assertStringIncludes, assertThrows } from "../../tests/harness/assert.ts";
import { CsiError } from "./errors.ts";
import { parseMountGroup } from "./mount_group.ts";

Deno.test("parseMountGroup() accepts decimal 32-bit gids and no group", () => {
  for (const [v, gid] of [["0", 0], ["1000", 1000], ["4294967294", 4294967294], ["007", 7]]) {
    assertEquals(parseMountGroup(v as string), gid);
  }
  assertEquals(parseMountGroup(undefined), undefined);
  assertEquals(parseMountGroup(""), undefined);
});

Deno.test("parseMountGroup() refuses negative, too large, fractional and non-decimal gids, naming the field", () => {
  for (
    const v of ["-1", "99999999999", "4294967295", "1.5", " ", " 1", "abc", "0x10", "1e3", "+5"]
  ) {
    const e = assertThrows(() => parseMountGroup(v), CsiError);
    assertEquals(e.code, 3, v);
    assertStringIncludes(e.message, "volume_mount_group");
    assertStringIncludes(e.message, JSON.stringify(v));
  }
});
