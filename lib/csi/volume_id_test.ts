import {
  assert,
  assertEquals,
  assertStringIncludes,
  assertThrows,
} from "../../tests/harness/assert.ts";
import { CsiError } from "./errors.ts";
import { checkVolumeId, volumeFolder } from "./volume_id.ts";

Deno.test("volumeFolder() gives ids a sanitiser would merge different folders", async () => {
  assert(await volumeFolder("x:1") !== await volumeFolder("x_1"));
  assertEquals((await volumeFolder("..")).length, 64);
  assertEquals(await volumeFolder("csi-abc"), await volumeFolder("csi-abc"));
});

Deno.test("checkVolumeId() refuses empty, 129 bytes, dots and control characters", () => {
  assertEquals(checkVolumeId("v".repeat(128)), "v".repeat(128));
  assertEquals(checkVolumeId("x:1"), "x:1");
  const cases: Array<[string, string]> = [
    ["", "required"],
    ["v".repeat(129), "128 bytes"],
    ["é".repeat(65), "128 bytes"],
    ["..", "not a volume id"],
    [".", "not a volume id"],
    ["a\nb", "not a volume id"],
  ];
  for (const [id, words] of cases) {
    const e = assertThrows(() => checkVolumeId(id), CsiError);
    assertEquals(e.code, 3);
    assertStringIncludes(e.message, "volume_id");
    assertStringIncludes(e.message, words);
  }
});
