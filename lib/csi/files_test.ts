/** On a real tmpfs, as in production; needs root (mount, chown, writing through 0o444). */
import { assert, assertEquals } from "../../tests/harness/assert.ts";
import { type Ownership, updateFiles, type VolumeFile, writeFiles } from "./files.ts";
import { mountTmpfs, unmount } from "./mount.ts";

const enc = new TextEncoder();
const READ_ONLY: Ownership = { mode: 0o444 };

function file(name: string, text: string): VolumeFile {
  return { name, bytes: enc.encode(text) };
}

/** Runs `fn` in a fresh tmpfs of 1 MiB under /tmp. */
async function withVolume(fn: (dir: string) => void | Promise<void>): Promise<void> {
  const dir = Deno.makeTempDirSync({ prefix: "csi-files-test-" });
  try {
    mountTmpfs(dir, { sizeBytes: 1 << 20 });
    await fn(dir);
  } finally {
    unmount(dir);
    Deno.removeSync(dir, { recursive: true });
  }
}

function names(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

/** Moves a file's mtime 10 s back, so "it moved" does not depend on timestamp granularity. */
function age(path: string): number {
  const past = new Date(Date.now() - 10_000);
  Deno.utimeSync(path, past, past);
  return Deno.statSync(path).mtime!.getTime();
}

const IN_MODIFY = 0x2;
const IN_ATTRIB = 0x4;
const IN_MOVE_SELF = 0x800;
const IN_DELETE_SELF = 0x400;
const IN_IGNORED = 0x8000;
const IN_ALL_EVENTS = 0xfff;
const IN_NONBLOCK = 0o4000;
const IN_CLOEXEC = 0o2000000;

/** inotify through libc, as the guide's Python example uses it: a watch on the file itself. */
function openInotify() {
  const libc = Deno.dlopen("libc.so.6", {
    inotify_init1: { parameters: ["i32"], result: "i32" },
    inotify_add_watch: { parameters: ["i32", "buffer", "u32"], result: "i32" },
    read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
    close: { parameters: ["i32"], result: "i32" },
  });
  const fd = libc.symbols.inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  assert(fd >= 0, "inotify_init1 failed");
  return {
    watch(path: string): number {
      const wd = libc.symbols.inotify_add_watch(fd, enc.encode(path + "\0"), IN_ALL_EVENTS);
      assert(wd >= 0, `inotify_add_watch ${path} failed`);
      return wd;
    },
    /** The masks queued so far for `wd`; the kernel queues them within the writing syscalls. */
    drain(wd: number): number[] {
      const masks: number[] = [];
      const buf = new Uint8Array(64 * 1024);
      for (;;) {
        const n = Number(libc.symbols.read(fd, buf, BigInt(buf.length)));
        if (n <= 0) return masks; // -1 with EAGAIN: the queue is empty
        const view = new DataView(buf.buffer, 0, n);
        for (let at = 0; at < n; at += 16 + view.getUint32(at + 12, true)) {
          if (view.getInt32(at, true) === wd) masks.push(view.getUint32(at + 4, true));
        }
      }
    },
    [Symbol.dispose]() {
      libc.symbols.close(fd);
      libc.close();
    },
  };
}

const has = (masks: number[], bit: number) => masks.some((m) => (m & bit) !== 0);

Deno.test("writeFiles() writes every file with its bytes and leaves no temporary file", () =>
  withVolume((dir) => {
    const keytab = new Uint8Array([0x05, 0x02, 0x00, 0xff, 0x0a]);
    writeFiles(dir, [file("db-password", "secret-password"), { name: "keytab", bytes: keytab }], {
      mode: 0o444,
    });
    assertEquals(names(dir), ["db-password", "keytab"]);
    assertEquals(Deno.readTextFileSync(`${dir}/db-password`), "secret-password");
    assertEquals(Deno.readFileSync(`${dir}/keytab`), keytab);
  }));

Deno.test("writeFiles() applies 0o444 and root ownership without a gid", () =>
  withVolume((dir) => {
    writeFiles(dir, [file("a", "1")], READ_ONLY);
    const info = Deno.statSync(`${dir}/a`);
    assertEquals([info.mode! & 0o7777, info.uid, info.gid], [0o444, 0, 0]);
  }));

Deno.test("writeFiles() applies uid, gid and 0o440 when the Pod has an fsGroup", () =>
  withVolume((dir) => {
    writeFiles(dir, [file("a", "1"), file("b", "")], { uid: 0, gid: 2345, mode: 0o440 });
    for (const n of ["a", "b"]) {
      const info = Deno.statSync(`${dir}/${n}`);
      assertEquals([info.mode! & 0o7777, info.uid, info.gid], [0o440, 0, 2345], n);
    }
  }));

Deno.test("writeFiles() keeps a file whose name looks like another's temporary name", () =>
  withVolume((dir) => {
    writeFiles(dir, [file("a", "first"), file(".a.tmp", "second")], READ_ONLY);
    assertEquals(names(dir), [".a.tmp", "a"]);
    assertEquals(Deno.readTextFileSync(`${dir}/a`), "first");
    assertEquals(Deno.readTextFileSync(`${dir}/.a.tmp`), "second");
  }));

Deno.test("writeFiles() fails naming the file, never the value, and removes its temporary file", () =>
  withVolume((dir) => {
    const small = `${dir}/small`;
    Deno.mkdirSync(small);
    mountTmpfs(small, { sizeBytes: 4096 });
    try {
      const big = new Uint8Array(64 * 1024).fill(0x78);
      let message = "";
      try {
        writeFiles(small, [{ name: "cert", bytes: big }], READ_ONLY);
      } catch (e) {
        message = (e as Error).message;
      }
      assert(message.startsWith(`Cannot write ${small}/cert: `), message);
      assert(!message.includes("xxxx"), message);
      assertEquals(names(small), []);
    } finally {
      unmount(small);
    }
  }));

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

Deno.test("why rotation does not rename: a rename over the watched file ends the watch", () =>
  withVolume((dir) => {
    writeFiles(dir, [file("db-password", "first-value")], READ_ONLY);
    using inotify = openInotify();
    const wd = inotify.watch(`${dir}/db-password`);
    writeFiles(dir, [file("db-password", "second-value")], READ_ONLY);
    const masks = inotify.drain(wd);
    assert(!has(masks, IN_MODIFY), `${masks}`);
    assert(has(masks, IN_DELETE_SELF) && has(masks, IN_IGNORED), `${masks}`);
  }));
