import { assertEquals, assertThrows } from "../../tests/harness/assert.ts";
import { assertStringIncludes } from "../../tests/harness/assert.ts";
import { interpreterSlot, readHead, setInterpreter, setInterpreterInFile } from "./elf.ts";

const LOADER = "/lib64/ld-linux-x86-64.so.2";
const PH_AT = 64;
const PH_SIZE = 56;

/** A 64-bit little-endian ELF head with one PT_LOAD and one PT_INTERP program header, the
 * interpreter string in a slot of `slot` bytes, and `tail` bytes of program after it (as a
 * `deno compile` executable keeps its program after the ELF image). */
function elf(interp = LOADER, slot = interp.length + 1, tail = 4096): Uint8Array {
  const interpAt = PH_AT + 2 * PH_SIZE;
  const b = new Uint8Array(interpAt + slot + tail);
  const v = new DataView(b.buffer);
  b.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  v.setUint16(0x10, 2, true); // ET_EXEC
  v.setUint16(0x12, 62, true); // x86-64
  v.setBigUint64(0x20, BigInt(PH_AT), true);
  v.setUint16(0x36, PH_SIZE, true);
  v.setUint16(0x38, 2, true);
  v.setUint32(PH_AT, 1, true); // PT_LOAD first: the interpreter is found by type, not position
  const ph = PH_AT + PH_SIZE;
  v.setUint32(ph, 3, true); // PT_INTERP
  v.setBigUint64(ph + 0x08, BigInt(interpAt), true);
  v.setBigUint64(ph + 0x20, BigInt(slot), true);
  b.set(new TextEncoder().encode(interp), interpAt);
  b.fill(0xab, interpAt + slot); // the program: must survive every rewrite
  return b;
}

Deno.test("interpreterSlot() finds the interpreter of the running Deno executable", () => {
  const slot = interpreterSlot(readHead(Deno.execPath()));
  assertStringIncludes(slot.path, "ld-linux");
  assertEquals(slot.size > slot.path.length, true);
});

Deno.test("setInterpreter() writes a shorter path NUL-padded into the same slot", () => {
  const b = elf();
  const before = interpreterSlot(b);
  setInterpreter(b, "/run/x/ld.so");
  const after = interpreterSlot(b);
  assertEquals(after.path, "/run/x/ld.so");
  assertEquals({ offset: after.offset, size: after.size }, {
    offset: before.offset,
    size: before.size,
  });
  assertEquals(
    [...b.subarray(after.offset + 12, after.offset + after.size)].every((x) => !x),
    true,
  );
});

Deno.test("setInterpreter() takes a path that fills the slot but its NUL, and refuses one byte more", () => {
  const fits = "/" + "a".repeat(LOADER.length - 1);
  const b = elf();
  setInterpreter(b, fits);
  assertEquals(interpreterSlot(b).path, fits);
  const copy = elf();
  const e = assertThrows(() => setInterpreter(copy, fits + "b"), RangeError);
  assertStringIncludes(e.message, `${LOADER.length} bytes`);
  assertEquals(copy, elf(), "a refused path changes nothing");
});

Deno.test("setInterpreter() counts bytes, not characters", () => {
  // 15 characters, 29 bytes: a slot of 27 bytes and its NUL cannot hold it.
  const b = elf();
  const e = assertThrows(() => setInterpreter(b, "/" + "é".repeat(14)), RangeError);
  assertStringIncludes(e.message, "longer than");
});

Deno.test("interpreterSlot() refuses what is not a 64-bit little-endian ELF, naming why", () => {
  const cases: Array<[string, Uint8Array, new (...a: never[]) => Error, string]> = [
    ["empty", new Uint8Array(0), TypeError, "not an ELF file"],
    ["a shell script", new TextEncoder().encode("#!/bin/sh\n".repeat(10)), TypeError, "not an ELF"],
    ["a truncated header", elf().subarray(0, 40), TypeError, "not an ELF file"],
    ["32-bit", patch(elf(), (b) => b[4] = 1), TypeError, "64-bit little-endian"],
    ["big-endian", patch(elf(), (b) => b[5] = 2), TypeError, "64-bit little-endian"],
    ["no PT_INTERP", patch(elf(), (b) => b[PH_AT + PH_SIZE] = 1), TypeError, "statically linked"],
  ];
  for (const [what, bytes, type, words] of cases) {
    const e = assertThrows(() => interpreterSlot(bytes), type);
    assertStringIncludes(e.message, words, what);
  }
});

Deno.test("interpreterSlot() refuses hostile program headers with a RangeError, never reading past the head", () => {
  const v = (b: Uint8Array) => new DataView(b.buffer);
  const ph = PH_AT + PH_SIZE;
  const cases: Array<[string, Uint8Array, string]> = [
    [
      "headers past the end",
      patch(elf(), (b) => v(b).setUint16(0x38, 60000, true)),
      "program headers",
    ],
    [
      "headers at a huge offset",
      patch(elf(), (b) => v(b).setBigUint64(0x20, 1n << 62n, true)),
      "program headers",
    ],
    [
      "string past the end",
      patch(elf(), (b) => v(b).setBigUint64(ph + 0x20, 1n << 40n, true)),
      "interpreter string",
    ],
    [
      "string at a huge offset",
      patch(elf(), (b) => v(b).setBigUint64(ph + 0x08, (1n << 64n) - 1n, true)),
      "interpreter string",
    ],
    // Entries too small to hold a program header: reading one would run off the head.
    [
      "entries of 1 byte at the end",
      patch(elf(), (b) => {
        v(b).setUint16(0x36, 1, true);
        v(b).setUint16(0x38, 1, true);
        v(b).setBigUint64(0x20, BigInt(b.length - 1), true);
      }),
      "program header",
    ],
  ];
  for (const [what, bytes, words] of cases) {
    const e = assertThrows(() => interpreterSlot(bytes), RangeError);
    assertStringIncludes(e.message, words, what);
  }
});

Deno.test("setInterpreterInFile() rewrites only the slot: read back, the path is new and every other byte is as it was", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const path = `${dir}/exe`;
    const original = elf(LOADER, LOADER.length + 1, 200_000); // the program runs past the head
    Deno.writeFileSync(path, original);
    setInterpreterInFile(path, "/opt/i/ld.so");
    const now = Deno.readFileSync(path);
    assertEquals(now.length, original.length);
    assertEquals(interpreterSlot(now).path, "/opt/i/ld.so");
    const slot = interpreterSlot(original);
    const changed = [...now.keys()].filter((i) => now[i] !== original[i]);
    assertEquals(changed.every((i) => i >= slot.offset && i < slot.offset + slot.size), true);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("setInterpreterInFile() refuses a path too long for the slot and leaves the file as it was", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const path = `${dir}/exe`;
    Deno.writeFileSync(path, elf());
    assertThrows(() => setInterpreterInFile(path, "/" + "x".repeat(200)), RangeError);
    assertEquals(Deno.readFileSync(path), elf());
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

function patch(b: Uint8Array, f: (b: Uint8Array) => unknown): Uint8Array {
  f(b);
  return b;
}
