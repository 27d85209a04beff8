import {
  assert,
  assertEquals,
  assertStringIncludes,
  assertThrows,
} from "../../tests/harness/assert.ts";
import { mountTmpfs, unmount } from "./mount.ts";
import { SpaceError } from "./space.ts";
import { KEEP_GENERATIONS, RotationWriter } from "./rotation_writer.ts";

const enc = (s: string) => new TextEncoder().encode(s);
const own = { mode: 0o444 };

Deno.test("RotationWriter.swap() replaces only changed files, atomically, and notify() updates replaced inodes", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeFileSync(`${dir}/a`, enc("one"), { mode: 0o444 });
    Deno.writeFileSync(`${dir}/b`, enc("same"), { mode: 0o444 });
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
    Deno.writeFileSync(`${dir}/a`, enc("v0"), { mode: 0o444 });
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

/** A fresh tmpfs of `bytes`, as each volume gets. */
function withTmpfs(bytes: number, fn: (dir: string) => void): void {
  const dir = Deno.makeTempDirSync({ prefix: "csi-rotation-test-" });
  try {
    mountTmpfs(dir, { sizeBytes: bytes });
    fn(dir);
  } finally {
    unmount(dir);
    Deno.removeSync(dir, { recursive: true });
  }
}

const MiB = 1 << 20;
const value = (i: number, length: number) => enc(`${i}:`.padEnd(length, "x"));

Deno.test("RotationWriter: a 1 MiB file in a 4 MiB tmpfs rotates 20 times, dropping the oldest kept inodes", () =>
  withTmpfs(4 * MiB, (dir) => {
    Deno.writeFileSync(`${dir}/big`, value(0, MiB));
    const original = Deno.openSync(`${dir}/big`);
    const w = new RotationWriter(dir, 4 * MiB);
    for (let i = 1; i <= 20; i++) {
      const { changed, notify } = w.swap([{ name: "big", bytes: value(i, MiB) }], own);
      assertEquals(changed, ["big"], `rotation ${i}`);
      notify();
      assertEquals(Deno.readFileSync(`${dir}/big`).subarray(0, 4), enc(`${i}:`.padEnd(4, "x")));
    }
    const buf = new Uint8Array(4);
    original.readSync(buf);
    assertEquals(buf, enc("20:x"), "the first inode is kept and hears of every change");
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["big"]);
    original.close();
    w.close();
  }));

Deno.test("RotationWriter: a rotation that cannot fit is SpaceError naming the file, its size and the setting, and changes nothing", () =>
  withTmpfs(4 * MiB, (dir) => {
    Deno.writeFileSync(`${dir}/big`, value(0, MiB));
    const w = new RotationWriter(dir, 4 * MiB);
    const e = assertThrows(
      () => w.swap([{ name: "big", bytes: value(1, 5 * MiB) }], own),
      SpaceError,
    );
    assertStringIncludes(e.message, `file "big" (${5 * MiB} bytes)`);
    assertStringIncludes(e.message, "--volume-size (chart value csi.volumeSize)");
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["big"]);
    assertEquals(Deno.readFileSync(`${dir}/big`), value(0, MiB));
    w.close();
  }));

Deno.test("RotationWriter: names of 255 bytes rotate; their temporary names stay short", () =>
  withTmpfs(MiB, (dir) => {
    const names = ["a".repeat(255), "é".repeat(125)];
    for (const n of names) Deno.writeFileSync(`${dir}/${n}`, enc("one"));
    const w = new RotationWriter(dir, MiB);
    const { changed } = w.swap(names.map((name) => ({ name, bytes: enc("two") })), own);
    assertEquals(changed, names);
    for (const n of names) assertEquals(Deno.readTextFileSync(`${dir}/${n}`), "two");
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [...names].sort());
    w.close();
  }));

Deno.test("RotationWriter: files added and removed are applied; unlisted names are left alone", () =>
  withTmpfs(MiB, (dir) => {
    Deno.writeFileSync(`${dir}/a`, enc("1"), { mode: 0o444 });
    Deno.writeFileSync(`${dir}/b`, enc("2"), { mode: 0o444 });
    const w = new RotationWriter(dir, MiB);
    const r = w.swap([{ name: "a", bytes: enc("1") }, { name: "c", bytes: enc("3") }], own, [
      "a",
      "b",
    ]);
    assertEquals([r.changed, r.removed], [["c"], ["b"]]);
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name).sort(), ["a", "c"]);
    w.close();
  }));

Deno.test("RotationWriter: an edited mode rewrites the file with the same bytes", () =>
  withTmpfs(MiB, (dir) => {
    Deno.writeFileSync(`${dir}/k`, enc("key"), { mode: 0o444 });
    const w = new RotationWriter(dir, MiB);
    assertEquals(w.swap([{ name: "k", bytes: enc("key") }], own).changed, []);
    assertEquals(w.swap([{ name: "k", bytes: enc("key"), mode: 0o400 }], own).changed, ["k"]);
    assertEquals(Deno.statSync(`${dir}/k`).mode! & 0o7777, 0o400);
    assertEquals(w.swap([{ name: "k", bytes: enc("key"), mode: 0o400 }], own).changed, []);
    w.close();
  }));
