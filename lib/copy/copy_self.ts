/** copy-self: puts the running executable, with the dynamic loader and the libraries it runs
 * on, into a shared folder, so the injector starts in any image: another glibc, musl, distroless,
 * scratch, no shell (layout.ts). A file appears under its final name only once it is whole, so
 * a container never starts a half-copied injector. Runs as any user: it only writes into `dir`. */
import { INJECTOR_FILE, LIB_DIR, LOADER_FILE } from "./layout.ts";
import { sameBytes } from "../sys/bytes.ts";
import { interpreterSlot, readHead, setInterpreterInFile } from "./elf.ts";

export interface CopyResult {
  /** Files written (unchanged ones are not rewritten). */
  written: string[];
  bytes: number;
}

/** The shared libraries mapped into this process: exactly what the executable runs on. */
export function mappedLibraries(): string[] {
  const maps = Deno.readTextFileSync("/proc/self/maps");
  const paths = new Set<string>();
  for (const line of maps.split("\n")) {
    const path = line.slice(line.indexOf("/")).trim();
    if (line.includes("/") && /\/[^/]+\.so(\.\d+)*$/.test(path)) paths.add(path);
  }
  return [...paths];
}

/** Copies the executable `exe` (this one by default) and what it needs into `dir`. Files are
 * copied by the kernel and compared a chunk at a time, never held whole in memory: the
 * executable is about 100 MB and the init container's memory limit 128 MiB. `mountedAt` is
 * where `dir` will be seen when the injector runs (the image's prepared tree is mounted at
 * INJECTOR_DIR); the interpreter path is set for it. */
export function copySelf(dir: string, exe = Deno.execPath(), mountedAt = dir): CopyResult {
  const loader = Deno.realPathSync(interpreterSlot(readHead(exe)).path);
  Deno.mkdirSync(`${dir}/${LIB_DIR}`, { recursive: true });
  const result: CopyResult = { written: [], bytes: 0 };
  const put = (name: string, from: string, patch?: (tmp: string) => void) => {
    const size = copyIfChanged(from, `${dir}/${name}`, patch);
    if (size !== undefined) {
      result.written.push(name);
      result.bytes += size;
    }
  };
  for (const lib of mappedLibraries()) {
    if (Deno.realPathSync(lib) === loader) continue;
    put(`${LIB_DIR}/${lib.slice(lib.lastIndexOf("/") + 1)}`, lib);
  }
  put(LOADER_FILE, loader);
  // Last: the injector's own path appears only when everything it needs is in place.
  put(INJECTOR_FILE, exe, (tmp) => setInterpreterInFile(tmp, `${mountedAt}/${LOADER_FILE}`));
  return result;
}

/** Copies `from` to a temporary name beside `path`, applies `patch`, and renames it over
 * `path` with mode 0555; returns the size written, or undefined when `path` already held
 * exactly those bytes. */
function copyIfChanged(
  from: string,
  path: string,
  patch?: (tmp: string) => void,
): number | undefined {
  const tmp = `${path}.${crypto.randomUUID()}.tmp`;
  try {
    Deno.copyFileSync(from, tmp);
    patch?.(tmp);
    if (sameContent(path, tmp)) {
      Deno.removeSync(tmp);
      return undefined;
    }
    Deno.chmodSync(tmp, 0o555);
    const size = Deno.statSync(tmp).size;
    Deno.renameSync(tmp, path);
    return size;
  } catch (e) {
    try {
      Deno.removeSync(tmp);
    } catch { /* not created */ }
    throw new Error(`Cannot copy ${from} into ${path}: ${(e as Error).message}`);
  }
}

/** True when both files exist and hold the same bytes; compared 1 MiB at a time. */
function sameContent(a: string, b: string): boolean {
  let fa: Deno.FsFile | undefined;
  let fb: Deno.FsFile | undefined;
  try {
    fa = Deno.openSync(a);
    fb = Deno.openSync(b);
    if (fa.statSync().size !== fb.statSync().size) return false;
    const [ba, bb] = [new Uint8Array(1 << 20), new Uint8Array(1 << 20)];
    while (true) {
      const na = readFull(fa, ba);
      const nb = readFull(fb, bb);
      if (na !== nb) return false;
      if (na === 0) return true;
      if (!sameBytes(ba.subarray(0, na), bb.subarray(0, nb))) return false;
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  } finally {
    fa?.close();
    fb?.close();
  }
}

function readFull(file: Deno.FsFile, buf: Uint8Array): number {
  let n = 0;
  while (n < buf.length) {
    const got = file.readSync(buf.subarray(n));
    if (got === null) break;
    n += got;
  }
  return n;
}
