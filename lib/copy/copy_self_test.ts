import { assert, assertStringIncludes, assertThrows } from "../../tests/harness/assert.ts";
import { copySelf } from "./copy_self.ts";
import { INJECTOR_FILE } from "./layout.ts";

Deno.test("copySelf() refuses a --mounted-at folder whose loader path does not fit the interpreter slot, and leaves no executable", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const far = `/${"x".repeat(120)}`; // "/lib64/ld-linux-x86-64.so.2" is 27 bytes
    const e = assertThrows(() => copySelf(dir, Deno.execPath(), far), Error);
    assertStringIncludes(e.message, `${dir}/${INJECTOR_FILE}`);
    const left = [...Deno.readDirSync(dir)].map((f) => f.name);
    assert(!left.some((n) => n.startsWith(INJECTOR_FILE)), `left behind: ${left.join(", ")}`);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
