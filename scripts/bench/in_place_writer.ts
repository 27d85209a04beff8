/** The in-place writer that the product's rotation (lib/csi/rotation_writer.ts, a rename)
 * was measured against by csi_torn_reads.ts: it keeps one inode for ever, but a reader at an
 * arbitrary moment can see a torn value when a value gets shorter, so the driver does not use
 * it (docs/csi-rotation-writes.md). Kept here, beside its benchmark, and tested
 * (in_place_writer_test.ts), so the measured claims stay reproducible. */
import {
  applyOwnership,
  type Ownership,
  type VolumeFile,
  writeFiles,
} from "../../lib/csi/files.ts";
import { sameBytes } from "../../lib/sys/bytes.ts";
import { ERRNO_SYMBOLS, errnoText, lastErrno } from "../../lib/sys/errno.ts";

/** Rotation: rewrites, in place, only the files whose bytes differ, so an inotify watch on the
 * file gets IN_MODIFY and its mtime moves; creates the files new in `files`; leaves files no
 * longer listed alone (the caller decides). Returns the names written. */
export function updateFiles(dir: string, files: VolumeFile[], own: Ownership): string[] {
  const written: string[] = [];
  for (const f of files) {
    const path = `${dir}/${f.name}`;
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(path);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw failure("update", path, e);
      writeFiles(dir, [f], own);
      written.push(f.name);
      continue;
    }
    if (!info.isFile) throw new Error(`Cannot update ${path}: not a regular file`);
    let current: Uint8Array;
    try {
      current = Deno.readFileSync(path);
    } catch (e) {
      throw failure("read", path, e);
    }
    if (!sameBytes(current, f.bytes)) {
      try {
        rewriteInPlace(path, f.bytes);
      } catch (e) {
        // A longer value can run out of space halfway; the old one fits the pages it had.
        try {
          rewriteInPlace(path, current);
        } catch { /* the first error is the one to report */ }
        throw e;
      }
      written.push(f.name);
    }
    // Only when it differs: a needless chmod would send the app an IN_ATTRIB.
    if (
      (info.mode! & 0o7777) !== own.mode ||
      (own.uid !== undefined && info.uid !== own.uid) ||
      (own.gid !== undefined && info.gid !== own.gid)
    ) {
      applyOwnership(path, own);
    }
  }
  return written;
}

/** Replaces the content of the file at `path` on the same inode, queueing exactly one
 * IN_MODIFY and only once the new value is complete, and returns for how long, in
 * milliseconds, a concurrent read could have returned neither value. A value of the same or a
 * greater length: one pwrite(2) at offset 0, whose IN_MODIFY comes after it returns. A shorter
 * value needs a write and a truncate, and both would send IN_MODIFY: the first would wake the
 * guide's app while the old value's tail is still there (measured: 5 to 20 % of shrinking
 * rotations read torn). So the bytes go through a shared mapping, which sends no event, and
 * ftruncate(2) then cuts the tail and sends the one IN_MODIFY. A reader that does not wait
 * for the event can still see new bytes plus the old tail between the two;
 * docs/csi-rotation-writes.md measures that window and explains why it is accepted.
 * Through libc: Deno's file API has no mmap, and no JavaScript runs between the syscalls.
 * Root writes through the 0o444 mode by CAP_DAC_OVERRIDE: changing the mode would send the app
 * an IN_ATTRIB and leave the file writable for a moment.
 * Exported for scripts/bench/csi_torn_reads.ts, which measures that window. */
export function rewriteInPlace(path: string, bytes: Uint8Array): number {
  const c = lib();
  const fd = c.open(enc.encode(path + "\0"), O_RDWR | O_CLOEXEC, 0);
  if (fd < 0) throw sysFailure("open", path);
  try {
    const size = Number(c.lseek(fd, 0n, SEEK_END));
    if (size < 0) throw sysFailure("rewrite", path);
    return bytes.length < size ? shrink(fd, size, bytes, path) : overwrite(fd, bytes, path);
  } finally {
    c.close(fd);
  }
}

function overwrite(fd: number, bytes: Uint8Array, path: string): number {
  const start = performance.now();
  for (let done = 0; done < bytes.length;) {
    const rest = bytes.subarray(done);
    const n = Number(lib().pwrite(fd, rest, BigInt(rest.length), BigInt(done)));
    if (n < 0) throw sysFailure("rewrite", path);
    done += n;
  }
  return performance.now() - start;
}

function shrink(fd: number, size: number, bytes: Uint8Array, path: string): number {
  const c = lib();
  let map: Deno.PointerValue = null;
  if (bytes.length > 0) {
    // Populated now, so the page fault happens before the window, not inside it.
    const flags = MAP_SHARED | MAP_POPULATE;
    map = c.mmap(null, BigInt(size), PROT_READ | PROT_WRITE, flags, fd, 0n);
    if (map === null || BigInt(Deno.UnsafePointer.value(map)) === MAP_FAILED) {
      throw sysFailure("map", path);
    }
  }
  try {
    const start = performance.now();
    if (map) new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(map, bytes.length)).set(bytes);
    if (c.ftruncate(fd, BigInt(bytes.length)) !== 0) throw sysFailure("truncate", path);
    return performance.now() - start;
  } finally {
    if (map) c.munmap(map, BigInt(size));
  }
}

const O_RDWR = 0o2;
const O_CLOEXEC = 0o2000000;
const SEEK_END = 2;
const PROT_READ = 0x1;
const PROT_WRITE = 0x2;
const MAP_SHARED = 0x1;
const MAP_POPULATE = 0x8000;
const MAP_FAILED = (1n << 64n) - 1n;
const enc = new TextEncoder();

function openLibc() {
  return Deno.dlopen("libc.so.6", {
    open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
    lseek: { parameters: ["i32", "i64", "i32"], result: "i64" },
    pwrite: { parameters: ["i32", "buffer", "usize", "i64"], result: "isize" },
    ftruncate: { parameters: ["i32", "i64"], result: "i32" },
    close: { parameters: ["i32"], result: "i32" },
    mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
    munmap: { parameters: ["pointer", "usize"], result: "i32" },
    ...ERRNO_SYMBOLS,
  });
}

// Opened on first use and kept for the plugin's life.
let libc: ReturnType<typeof openLibc> | undefined;

function lib(): ReturnType<typeof openLibc>["symbols"] {
  libc ??= openLibc();
  return libc.symbols;
}

/** The error of the libc call that just failed, read before anything can overwrite errno. */
function sysFailure(step: string, path: string): Error {
  const reason = errnoText(lib(), lastErrno(lib()));
  return new Error(`Cannot ${step} ${path}: ${reason}`);
}

/** Names the path and the step, never the value. */
function failure(step: string, path: string, e: unknown): Error {
  return new Error(`Cannot ${step} ${path}: ${e instanceof Error ? e.message : String(e)}`, {
    cause: e,
  });
}
