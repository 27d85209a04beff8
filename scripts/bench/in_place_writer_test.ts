/** The in-place writer the rotation design was measured against (in_place_writer.ts), on a
 * real tmpfs; needs root. It is not the product's writer (lib/csi/rotation_writer.ts is), but
 * scripts/bench/csi_torn_reads.ts measures it, so what it claims is tested here. */
import { assert, assertEquals } from "../../tests/harness/assert.ts";
import {
  age,
  file,
  has,
  IN_ATTRIB,
  IN_DELETE_SELF,
  IN_IGNORED,
  IN_MODIFY,
  IN_MOVE_SELF,
  names,
  openInotify,
  READ_ONLY,
  withVolume,
} from "../../tests/harness/tmpfs.ts";
import { writeFiles } from "../../lib/csi/files.ts";
import { mountTmpfs, unmount } from "../../lib/csi/mount.ts";
import { updateFiles } from "./in_place_writer.ts";

Deno.test("updateFiles() rewrites a changed file on the same inode, moves its mtime and returns its name", () =>
  withVolume((dir) => {
    writeFiles(dir, [file("db-password", "old-password"), file("username", "app")], READ_ONLY);
    const ino = Deno.statSync(`${dir}/db-password`).ino;
    const before = age(`${dir}/db-password`);
    const changed = updateFiles(
      dir,
      [file("db-password", "new-password"), file("username", "app")],
      READ_ONLY,
    );
    assertEquals(changed, ["db-password"]);
    const info = Deno.statSync(`${dir}/db-password`);
    assertEquals(info.ino, ino);
    assert(info.mtime!.getTime() > before, "mtime did not move");
    assertEquals(info.mode! & 0o7777, 0o444);
    assertEquals(Deno.readTextFileSync(`${dir}/db-password`), "new-password");
  }));

Deno.test("updateFiles() leaves unchanged files untouched: same inode, same mtime", () =>
  withVolume((dir) => {
    writeFiles(dir, [file("a", "same"), file("b", "same too")], READ_ONLY);
    const ino = Deno.statSync(`${dir}/a`).ino;
    const mtime = age(`${dir}/a`);
    assertEquals(updateFiles(dir, [file("a", "same"), file("b", "changed")], READ_ONLY), ["b"]);
    const info = Deno.statSync(`${dir}/a`);
    assertEquals([info.ino, info.mtime!.getTime()], [ino, mtime]);
    assertEquals(updateFiles(dir, [file("a", "same"), file("b", "changed")], READ_ONLY), []);
  }));

Deno.test("updateFiles() ends with exactly the new bytes and a new mtime: shorter, longer, empty", () =>
  withVolume((dir) => {
    const values = [
      "a-sixteen-bytes!",
      "forty-bytes-forty-bytes-forty-bytes-40!!",
      "short",
      "",
      "x",
    ];
    writeFiles(dir, [file("v", values[0]!)], READ_ONLY);
    const ino = Deno.statSync(`${dir}/v`).ino;
    for (const v of [...values.slice(1), ...values]) {
      const before = age(`${dir}/v`);
      updateFiles(dir, [file("v", v)], READ_ONLY);
      assertEquals(Deno.readTextFileSync(`${dir}/v`), v);
      const info = Deno.statSync(`${dir}/v`);
      assertEquals(info.ino, ino);
      assert(info.mtime!.getTime() > before, `mtime did not move for "${v}"`);
    }
  }));

Deno.test("updateFiles() keeps the old value when the new one does not fit, and names the file", () =>
  withVolume((dir) => {
    const small = `${dir}/small`;
    Deno.mkdirSync(small);
    mountTmpfs(small, { sizeBytes: 8192 });
    try {
      writeFiles(small, [file("a", "old-value"), file("filler", "f".repeat(4096))], READ_ONLY);
      const ino = Deno.statSync(`${small}/a`).ino;
      let message = "";
      try {
        updateFiles(small, [file("a", "n".repeat(6000))], READ_ONLY);
      } catch (e) {
        message = (e as Error).message;
      }
      assertEquals(message, `Cannot rewrite ${small}/a: No space left on device`);
      assertEquals(Deno.readTextFileSync(`${small}/a`), "old-value");
      assertEquals(Deno.statSync(`${small}/a`).ino, ino);
    } finally {
      unmount(small);
    }
  }));

Deno.test("updateFiles() creates a file new in the list and leaves an unlisted one alone", () =>
  withVolume((dir) => {
    const own = { uid: 0, gid: 2345, mode: 0o440 };
    writeFiles(dir, [file("old", "kept")], own);
    assertEquals(updateFiles(dir, [file("new", "created")], own), ["new"]);
    assertEquals(names(dir), ["new", "old"]);
    assertEquals(Deno.readTextFileSync(`${dir}/old`), "kept");
    assertEquals(Deno.readTextFileSync(`${dir}/new`), "created");
    const info = Deno.statSync(`${dir}/new`);
    assertEquals([info.mode! & 0o7777, info.gid], [0o440, 2345]);
  }));

Deno.test("updateFiles() restores a changed mode without rewriting the bytes", () =>
  withVolume((dir) => {
    writeFiles(dir, [file("a", "same")], READ_ONLY);
    Deno.chmodSync(`${dir}/a`, 0o644);
    const mtime = age(`${dir}/a`);
    assertEquals(updateFiles(dir, [file("a", "same")], READ_ONLY), []);
    const info = Deno.statSync(`${dir}/a`);
    assertEquals([info.mode! & 0o7777, info.mtime!.getTime()], [0o444, mtime]);
  }));

Deno.test("the guide's watch on the file itself gets IN_MODIFY on two rotations in a row", () =>
  withVolume((dir) => {
    writeFiles(dir, [file("db-password", "first-value"), file("username", "app")], READ_ONLY);
    using inotify = openInotify();
    const wd = inotify.watch(`${dir}/db-password`);
    const quiet = inotify.watch(`${dir}/username`);
    // A longer value, then a shorter one: one write, then a write and a truncate.
    for (const value of ["second-value-which-is-longer", "third"]) {
      updateFiles(dir, [file("db-password", value), file("username", "app")], READ_ONLY);
      const masks = inotify.drain(wd);
      assert(has(masks, IN_MODIFY), `no IN_MODIFY for "${value}": ${masks}`);
      for (const bit of [IN_ATTRIB, IN_MOVE_SELF, IN_DELETE_SELF, IN_IGNORED]) {
        assert(!has(masks, bit), `event 0x${bit.toString(16)} would disturb the watch`);
      }
      assert(!has(inotify.drain(quiet), IN_MODIFY), "the unchanged file got IN_MODIFY");
    }
    updateFiles(dir, [file("db-password", "third"), file("username", "app")], READ_ONLY);
    assert(!has(inotify.drain(wd), IN_MODIFY), "IN_MODIFY without a change");
  }));

/** The guide's app in python3: on each IN_MODIFY of a watch on the file, reads it whole;
 * prints how many reads were neither value once `stop` exists. */
const GUIDE_APP = String.raw`
import ctypes, os, select, sys
path, stop, values = sys.argv[1], sys.argv[2], {v.encode() for v in sys.argv[3:]}
libc = ctypes.CDLL("libc.so.6", use_errno=True)
ifd = libc.inotify_init1(0)
if libc.inotify_add_watch(ifd, path.encode(), 0x2) < 0: sys.exit("inotify_add_watch failed")
print("ready", flush=True)
reads = torn = 0
while not os.path.exists(stop):
    if not select.select([ifd], [], [], 0.05)[0]: continue
    os.read(ifd, 4096)
    with open(path, "rb") as f: data = f.read()
    reads += 1
    torn += data not in values
print(reads, torn, flush=True)
`;

Deno.test("the guide's app, reading on each IN_MODIFY, never reads a torn value", () =>
  withVolume(async (dir) => {
    const [short, long] = ["s".repeat(16), "L".repeat(40)];
    writeFiles(dir, [file("db-password", short)], READ_ONLY);
    const stop = `${dir}/stop`;
    const app = new Deno.Command("python3", {
      args: ["-c", GUIDE_APP, `${dir}/db-password`, stop, short, long],
      stdout: "piped",
    }).spawn();
    const out = app.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let text = "";
    while (!text.includes("\n")) text += (await out.read()).value ?? "";
    assertEquals(text, "ready\n");
    const rotations = 200;
    try {
      for (let i = 1; i <= rotations; i++) {
        updateFiles(dir, [file("db-password", i % 2 ? long : short)], READ_ONLY);
        await new Promise((r) => setTimeout(r, 2));
      }
    } finally {
      Deno.writeTextFileSync(stop, "");
    }
    for (let r; !(r = await out.read()).done;) text += r.value;
    assert((await app.status).success);
    const [reads, torn] = text.split("\n")[1]!.split(" ").map(Number);
    assertEquals(torn, 0, `${torn} of ${reads} reads were torn`);
    assert(reads! >= rotations * 0.9, `only ${reads} reads for ${rotations} rotations`);
  }));
