/** Real mounts in a temporary folder: these tests need root. */
import {
  assert,
  assertEquals,
  assertStringIncludes,
  assertThrows,
} from "../../tests/harness/assert.ts";
import { bindReadOnly, isMountPoint, MountError, mountTmpfs, unmount } from "./mount.ts";

/** Runs `fn` with a fresh folder under /tmp, unmounting whatever it left behind. */
async function withDir(fn: (dir: string) => void | Promise<void>): Promise<void> {
  const dir = Deno.makeTempDirSync({ prefix: "csi-mount-test-" });
  try {
    await fn(dir);
  } finally {
    // Deepest first, so a bind over a tmpfs goes before the tmpfs.
    for (const p of mountsUnder(dir).reverse()) unmount(p);
    Deno.removeSync(dir, { recursive: true });
  }
}

function mountsUnder(dir: string): string[] {
  return Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .map((f) => f.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => p.startsWith(`${dir}/`));
}

function errorCode(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code ?? (e as Error).name;
  }
  return "no error";
}

Deno.test("mountTmpfs() enforces the size limit with ENOSPC", () =>
  withDir((dir) => {
    const target = `${dir}/vol`;
    Deno.mkdirSync(target);
    mountTmpfs(target, { sizeBytes: 64 * 1024 });
    assert(isMountPoint(target));
    Deno.writeFileSync(`${target}/small`, new Uint8Array(16 * 1024));
    const code = errorCode(() => Deno.writeFileSync(`${target}/big`, new Uint8Array(128 * 1024)));
    assertEquals(code, "ENOSPC");
  }));

Deno.test("mountTmpfs() applies the mode and the safe flags", () =>
  withDir((dir) => {
    const target = `${dir}/vol`;
    Deno.mkdirSync(target);
    mountTmpfs(target, { sizeBytes: 1 << 20, mode: 0o750 });
    assertEquals(Deno.statSync(target).mode! & 0o7777, 0o750);
    const line = Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
      .find((l) => l.split(" ")[4] === target)!;
    for (const opt of ["nosuid", "nodev", "noexec"]) assertStringIncludes(line, opt);
    assertStringIncludes(line, " - tmpfs secrets-store ");
  }));

Deno.test("mountTmpfs() defaults the root folder's mode to 0755", () =>
  withDir((dir) => {
    const target = `${dir}/vol`;
    Deno.mkdirSync(target);
    mountTmpfs(target, { sizeBytes: 1 << 20 });
    assertEquals(Deno.statSync(target).mode! & 0o7777, 0o755);
  }));

Deno.test("mountTmpfs() refuses a size that is not a positive integer", () => {
  for (const sizeBytes of [0, -1, 1.5, NaN]) {
    assertThrows(() => mountTmpfs("/nowhere", { sizeBytes }), RangeError);
  }
});

Deno.test("bindReadOnly() refuses writes through the target with EROFS, and shows the source's writes", () =>
  withDir((dir) => {
    const source = `${dir}/source`;
    const target = `${dir}/target`;
    Deno.mkdirSync(source);
    Deno.mkdirSync(target);
    mountTmpfs(source, { sizeBytes: 1 << 20 });
    Deno.writeTextFileSync(`${source}/db-password`, "one");
    bindReadOnly(source, target);
    assert(isMountPoint(target));
    assertEquals(Deno.readTextFileSync(`${target}/db-password`), "one");
    assertEquals(errorCode(() => Deno.writeTextFileSync(`${target}/db-password`, "x")), "EROFS");
    assertEquals(errorCode(() => Deno.writeTextFileSync(`${target}/new`, "x")), "EROFS");
    Deno.writeTextFileSync(`${source}/db-password`, "two");
    assertEquals(Deno.readTextFileSync(`${target}/db-password`), "two");
    const line = Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
      .find((l) => l.split(" ")[4] === target)!;
    for (const opt of ["ro,", "nosuid", "nodev", "noexec"]) assertStringIncludes(line, opt);
  }));

Deno.test("bindReadOnly() of a missing source throws MountError naming the paths and the reason", () =>
  withDir((dir) => {
    Deno.mkdirSync(`${dir}/target`);
    const e = assertThrows(() => bindReadOnly(`${dir}/missing`, `${dir}/target`), MountError);
    assertEquals(e.errno, 2);
    assertEquals(e.path, `${dir}/target`);
    assertEquals(
      e.message,
      `Cannot bind ${dir}/missing to ${dir}/target: No such file or directory`,
    );
    assert(!isMountPoint(`${dir}/target`));
  }));

Deno.test("unmount() is idempotent: mounted, not mounted, missing", () =>
  withDir((dir) => {
    const target = `${dir}/vol`;
    Deno.mkdirSync(target);
    mountTmpfs(target, { sizeBytes: 1 << 20 });
    unmount(target);
    assert(!isMountPoint(target));
    unmount(target);
    unmount(`${dir}/missing`);
  }));

Deno.test("unmount() detaches a busy mount and an open file stays readable", () =>
  withDir((dir) => {
    const target = `${dir}/vol`;
    Deno.mkdirSync(target);
    mountTmpfs(target, { sizeBytes: 1 << 20 });
    Deno.writeTextFileSync(`${target}/f`, "still here");
    using file = Deno.openSync(`${target}/f`);
    unmount(target);
    assert(!isMountPoint(target));
    const buf = new Uint8Array(32);
    const n = file.readSync(buf)!;
    assertEquals(new TextDecoder().decode(buf.subarray(0, n)), "still here");
  }));

Deno.test("isMountPoint() is false for a plain folder, a file, a missing path and true for /proc", () =>
  withDir((dir) => {
    Deno.writeTextFileSync(`${dir}/file`, "");
    assert(!isMountPoint(dir));
    assert(!isMountPoint(`${dir}/file`));
    assert(!isMountPoint(`${dir}/missing`));
    assert(!isMountPoint(`${dir}/file/below`));
    assert(isMountPoint("/proc"));
  }));

Deno.test("isMountPoint() resolves symlinks and trailing slashes", () =>
  withDir((dir) => {
    Deno.mkdirSync(`${dir}/vol`);
    Deno.symlinkSync(`${dir}/vol`, `${dir}/link`);
    mountTmpfs(`${dir}/vol`, { sizeBytes: 1 << 20 });
    assert(isMountPoint(`${dir}/vol/`));
    assert(isMountPoint(`${dir}/link`));
  }));

Deno.test("paths with spaces, tabs and backslashes mount, are found and unmount", () =>
  withDir((dir) => {
    for (const name of ["with space", "tab\there", "back\\slash", "kubernetes.io~csi"]) {
      const source = `${dir}/${name} src`;
      const target = `${dir}/${name}`;
      Deno.mkdirSync(source);
      Deno.mkdirSync(target);
      mountTmpfs(source, { sizeBytes: 1 << 20 });
      bindReadOnly(source, target);
      assert(isMountPoint(source), name);
      assert(isMountPoint(target), name);
      assert(!isMountPoint(`${dir}/${name.slice(0, 4)}`), name);
      unmount(target);
      unmount(source);
      assert(!isMountPoint(target), name);
      assert(!isMountPoint(source), name);
    }
  }));
