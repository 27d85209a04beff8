/** copy-self: puts the running executable, with the dynamic loader and the libraries it runs
 * on, into a shared folder, so the injector starts in any image: another glibc, musl, distroless,
 * scratch, no shell (layout.ts). A file appears under its final name only once it is whole, so
 * a container never starts a half-copied injector. Runs as any user: it only writes into `dir`. */
import { INJECTOR_FILE, LIB_DIR, LOADER_FILE } from "./layout.ts";
import { interpreterSlot, setInterpreter } from "./elf.ts";

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

/** Copies the executable `exe` (this one by default) and what it needs into `dir`. */
export function copySelf(dir: string, exe = Deno.execPath()): CopyResult {
  const binary = Deno.readFileSync(exe);
  const loader = Deno.realPathSync(interpreterSlot(binary).path);
  setInterpreter(binary, `${dir}/${LOADER_FILE}`);
  Deno.mkdirSync(`${dir}/${LIB_DIR}`, { recursive: true });
  const result: CopyResult = { written: [], bytes: 0 };
  const put = (name: string, bytes: Uint8Array) => {
    if (writeIfChanged(`${dir}/${name}`, bytes)) {
      result.written.push(name);
      result.bytes += bytes.length;
    }
  };
  for (const lib of mappedLibraries()) {
    if (Deno.realPathSync(lib) === loader) continue;
    put(`${LIB_DIR}/${lib.slice(lib.lastIndexOf("/") + 1)}`, Deno.readFileSync(lib));
  }
  put(LOADER_FILE, Deno.readFileSync(loader));
  // Last: the injector's own path appears only when everything it needs is in place.
  put(INJECTOR_FILE, binary);
  return result;
}

/** Writes under a temporary name and renames, mode 0555; false when the file is already so. */
function writeIfChanged(path: string, bytes: Uint8Array): boolean {
  try {
    if (sameBytes(Deno.readFileSync(path), bytes)) return false;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const tmp = `${path}.${crypto.randomUUID()}.tmp`;
  try {
    Deno.writeFileSync(tmp, bytes, { mode: 0o555 });
    Deno.chmodSync(tmp, 0o555);
    Deno.renameSync(tmp, path);
  } catch (e) {
    try {
      Deno.removeSync(tmp);
    } catch { /* not created */ }
    throw new Error(`Cannot copy into ${path}: ${(e as Error).message}`);
  }
  return true;
}

/** Byte equality, a word at a time: the executable is about 100 MB. */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  const words = Math.floor(a.length / 4);
  if (a.byteOffset % 4 === 0 && b.byteOffset % 4 === 0) {
    const wa = new Uint32Array(a.buffer, a.byteOffset, words);
    const wb = new Uint32Array(b.buffer, b.byteOffset, words);
    for (let i = 0; i < words; i++) if (wa[i] !== wb[i]) return false;
  } else {
    for (let i = 0; i < words * 4; i++) if (a[i] !== b[i]) return false;
  }
  for (let i = words * 4; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
