/** Real tmpfs volumes and inotify watches for the tests of the CSI driver's file writers
 * (lib/csi/files_test.ts, scripts/bench/in_place_writer_test.ts); needs root. */
import { assert } from "./assert.ts";
import type { Ownership, VolumeFile } from "../../lib/csi/files.ts";
import { mountTmpfs, unmount } from "../../lib/csi/mount.ts";

export const enc = new TextEncoder();
export const READ_ONLY: Ownership = { mode: 0o444 };

export function file(name: string, text: string): VolumeFile {
  return { name, bytes: enc.encode(text) };
}

/** Runs `fn` in a fresh tmpfs of 1 MiB under /tmp. */
export async function withVolume(fn: (dir: string) => void | Promise<void>): Promise<void> {
  const dir = Deno.makeTempDirSync({ prefix: "csi-files-test-" });
  try {
    mountTmpfs(dir, { sizeBytes: 1 << 20 });
    await fn(dir);
  } finally {
    unmount(dir);
    Deno.removeSync(dir, { recursive: true });
  }
}

export function names(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

/** Moves a file's mtime 10 s back, so "it moved" does not depend on timestamp granularity. */
export function age(path: string): number {
  const past = new Date(Date.now() - 10_000);
  Deno.utimeSync(path, past, past);
  return Deno.statSync(path).mtime!.getTime();
}

export const IN_MODIFY = 0x2;
export const IN_ATTRIB = 0x4;
export const IN_MOVE_SELF = 0x800;
export const IN_DELETE_SELF = 0x400;
export const IN_IGNORED = 0x8000;
const IN_ALL_EVENTS = 0xfff;
const IN_NONBLOCK = 0o4000;
const IN_CLOEXEC = 0o2000000;

/** inotify through libc, as the guide's Python example uses it: a watch on the file itself. */
export function openInotify() {
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

export const has = (masks: number[], bit: number) => masks.some((m) => (m & bit) !== 0);
