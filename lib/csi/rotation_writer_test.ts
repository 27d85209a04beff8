import { assert, assertEquals } from "../../tests/harness/assert.ts";
import { KEEP_GENERATIONS, RotationWriter } from "./rotation_writer.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const own = { mode: 0o444 };

Deno.test("RotationWriter.swap() replaces only changed files, atomically, and notify() updates replaced inodes", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeFileSync(`${dir}/a`, enc("one"));
    Deno.writeFileSync(`${dir}/b`, enc("same"));
    const first = Deno.openSync(`${dir}/a`); // a reader that opened the original inode
    const w = new RotationWriter(dir);
    const { changed, notify } = w.swap([{ name: "a", bytes: enc("two-longer") }, {
      name: "b",
      bytes: enc("same"),
    }], own);
    assertEquals(changed, ["a"]);
    assertEquals(Deno.readTextFileSync(`${dir}/a`), "two-longer");
    assertEquals(Deno.statSync(`${dir}/a`).mode! & 0o777, 0o444);
    notify();
    const buf = new Uint8Array(32);
    const n = first.readSync(buf)!;
    assertEquals(new TextDecoder().decode(buf.subarray(0, n)), "two-longer");
    first.close();
    w.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("RotationWriter keeps the first inode for the volume's life, and the last KEEP_GENERATIONS", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeFileSync(`${dir}/a`, enc("v0"));
    const original = Deno.openSync(`${dir}/a`);
    const w = new RotationWriter(dir);
    const rotations = KEEP_GENERATIONS * 2 + 3;
    for (let i = 1; i <= rotations; i++) w.swap([{ name: "a", bytes: enc(`v${i}`) }], own).notify();
    const buf = new Uint8Array(16);
    const n = original.readSync(buf)!;
    assertEquals(
      new TextDecoder().decode(buf.subarray(0, n)),
      `v${rotations}`,
      "the original inode still hears of changes",
    );
    assert(Deno.readTextFileSync(`${dir}/a`) === `v${rotations}`);
    original.close();
    w.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
