/** Rewrites the program interpreter (PT_INTERP) of a 64-bit little-endian ELF file in place,
 * without moving a byte: a `deno compile` executable keeps its program after the ELF image,
 * and tools that rebuild the file (patchelf) would lose it. Only the file's head is read: the
 * executable is about 100 MB and copy-self runs under a 128 MiB memory limit. */

const PT_INTERP = 3;
/** The size of one ELF64 program header (Elf64_Phdr). */
const PH_ENTRY_BYTES = 56;
/** Headers, program headers and the interpreter string sit in the first page of an
 * executable; 64 KiB leaves room for any linker's layout. */
const HEAD_BYTES = 64 * 1024;

/** The first bytes of `path`, where the ELF headers and the interpreter string are. */
export function readHead(path: string): Uint8Array {
  const file = Deno.openSync(path);
  try {
    const head = new Uint8Array(HEAD_BYTES);
    let n = 0;
    while (n < head.length) {
      const got = file.readSync(head.subarray(n));
      if (got === null) break;
      n += got;
    }
    return head.subarray(0, n);
  } finally {
    file.close();
  }
}

/** Sets the interpreter of the executable at `path`, writing only its slot. */
export function setInterpreterInFile(path: string, interpreter: string): void {
  const head = readHead(path);
  setInterpreter(head, interpreter);
  const slot = interpreterSlot(head);
  const file = Deno.openSync(path, { read: true, write: true });
  try {
    file.seekSync(slot.offset, Deno.SeekMode.Start);
    const bytes = head.subarray(slot.offset, slot.offset + slot.size);
    let n = 0;
    while (n < bytes.length) n += file.writeSync(bytes.subarray(n));
  } finally {
    file.close();
  }
}

/** The offset and size of the interpreter string in `elf`. */
export function interpreterSlot(elf: Uint8Array): { offset: number; size: number; path: string } {
  const v = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  if (elf.length < 64 || v.getUint32(0) !== 0x7f454c46) throw new TypeError("not an ELF file");
  if (elf[4] !== 2 || elf[5] !== 1) throw new TypeError("not a 64-bit little-endian ELF file");
  const phoff = Number(v.getBigUint64(0x20, true));
  const phentsize = v.getUint16(0x36, true);
  const phnum = v.getUint16(0x38, true);
  // A smaller entry would make the reads below run past the head.
  if (phnum > 0 && phentsize < PH_ENTRY_BYTES) {
    throw new RangeError(
      `program header entries of ${phentsize} bytes are smaller than ELF64's ${PH_ENTRY_BYTES}`,
    );
  }
  if (phoff + phnum * phentsize > elf.length) {
    throw new RangeError(`the program headers lie beyond the first ${elf.length} bytes`);
  }
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (v.getUint32(ph, true) !== PT_INTERP) continue;
    const offset = Number(v.getBigUint64(ph + 0x08, true));
    const size = Number(v.getBigUint64(ph + 0x20, true));
    if (offset + size > elf.length) {
      throw new RangeError(`the interpreter string lies beyond the first ${elf.length} bytes`);
    }
    const bytes = elf.subarray(offset, offset + size);
    const end = bytes.indexOf(0);
    return {
      offset,
      size,
      path: new TextDecoder().decode(bytes.subarray(0, end < 0 ? size : end)),
    };
  }
  throw new TypeError("the ELF file has no program interpreter (statically linked?)");
}

/** Sets the interpreter of `elf` (modified in place); the new path must fit the old slot. */
export function setInterpreter(elf: Uint8Array, path: string): void {
  const slot = interpreterSlot(elf);
  const bytes = new TextEncoder().encode(path);
  if (bytes.length + 1 > slot.size) {
    throw new RangeError(
      `interpreter path "${path}" is longer than the ${
        slot.size - 1
      } bytes the executable has room for`,
    );
  }
  elf.fill(0, slot.offset, slot.offset + slot.size);
  elf.set(bytes, slot.offset);
}
