/** The node plugin's mounts, through libc's mount(2) and umount2(2): the product image has no
 * util-linux, so there is no `mount` binary to shell out to. Needs root (CAP_SYS_ADMIN). */
import { errorText, mount, umount2 } from "../sys/libc.ts";

/** A mount syscall failed; callers read `errno` to tell a missing path from a busy one. */
export class MountError extends Error {
  override name = "MountError";
  constructor(message: string, readonly path: string, readonly errno: number) {
    super(message);
  }
}

const MS_RDONLY = 0x1;
const MS_NOSUID = 0x2;
const MS_NODEV = 0x4;
const MS_NOEXEC = 0x8;
const MS_REMOUNT = 0x20;
const MS_BIND = 0x1000;
const MNT_DETACH = 0x2;

const ENOENT = 2;
const EBUSY = 16;
const EINVAL = 22;

/** What secrets need and nothing more: no setuid, no device nodes, no executables. */
const SAFE_FLAGS = MS_NOSUID | MS_NODEV | MS_NOEXEC;

/** Shown as the source in /proc/mounts, so an operator can tell the driver's tmpfs apart. */
const TMPFS_SOURCE = "secrets-store";

const enc = new TextEncoder();

function cString(s: string | null): Uint8Array<ArrayBuffer> | null {
  return s === null ? null : enc.encode(s + "\0");
}

/** Calls mount(2); on failure throws MountError with `what` ("Cannot <what>: <strerror>"). */
function sysMount(
  source: string | null,
  target: string,
  fstype: string | null,
  flags: number,
  data: string | null,
  what: string,
): void {
  const errno = mount(cString(source), cString(target)!, cString(fstype), flags, cString(data));
  if (errno === 0) return;
  throw new MountError(`Cannot ${what}: ${errorText(errno)}`, target, errno);
}

/** Mounts a fresh tmpfs of at most `sizeBytes` at `target` (nosuid, nodev, noexec): secrets
 * stay in memory and one volume cannot fill the node's memory. */
export function mountTmpfs(target: string, o: { sizeBytes: number; mode?: number }): void {
  if (!Number.isSafeInteger(o.sizeBytes) || o.sizeBytes <= 0) {
    throw new RangeError(`Cannot mount tmpfs at ${target}: size ${o.sizeBytes} is not positive`);
  }
  const mode = o.mode ?? 0o755;
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) {
    throw new RangeError(`Cannot mount tmpfs at ${target}: mode ${mode} is not a file mode`);
  }
  sysMount(
    TMPFS_SOURCE,
    target,
    "tmpfs",
    SAFE_FLAGS,
    `size=${o.sizeBytes},mode=${mode.toString(8)}`,
    `mount tmpfs at ${target}`,
  );
}

/** Shows `source` at `target`, read-only. A bind mount ignores MS_RDONLY on its first call,
 * so it takes a second, remounting call; if that fails the bind is undone. */
export function bindReadOnly(source: string, target: string): void {
  sysMount(source, target, null, MS_BIND, null, `bind ${source} to ${target}`);
  try {
    sysMount(
      null,
      target,
      null,
      MS_REMOUNT | MS_BIND | MS_RDONLY | SAFE_FLAGS,
      null,
      `remount ${target} read-only`,
    );
  } catch (e) {
    umount2(cString(target)!, MNT_DETACH);
    throw e;
  }
}

/** Unmounts `target`; lazily (MNT_DETACH) when busy, since the kubelet retries an unpublish
 * forever and an app holding a file open must not block it. Not mounted or missing is fine. */
export function unmount(target: string): void {
  const path = cString(target)!;
  let errno = umount2(path, 0);
  if (errno === 0 || errno === EINVAL || errno === ENOENT) return;
  if (errno === EBUSY) {
    errno = umount2(path, MNT_DETACH);
    if (errno === 0) return;
  }
  throw new MountError(`Cannot unmount ${target}: ${errorText(errno)}`, target, errno);
}

/** One line of /proc/self/mountinfo: where, and what (file system type and source). */
interface MountEntry {
  point: string;
  fstype: string;
  source: string;
}

/** The kernel's mount table of this process's mount namespace. */
function mountTable(): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of Deno.readTextFileSync("/proc/self/mountinfo").split("\n")) {
    // Fields: id, parent id, major:minor, root, mount point, options, optional fields, "-",
    // fstype, source, ...; the kernel escapes space, tab, newline and backslash as \ooo.
    const [left, right] = line.split(" - ");
    const point = left?.split(" ")[4];
    if (point === undefined || right === undefined) continue;
    const [fstype = "", source = ""] = right.split(" ");
    out.push({ point: decodeMountPath(point), fstype, source: decodeMountPath(source) });
  }
  return out;
}

function realOrUndefined(path: string): string | undefined {
  try {
    return Deno.realPathSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    throw e;
  }
}

/** Whether something is mounted exactly at `path` (after resolving symlinks); a missing path
 * is not a mount point. */
export function isMountPoint(path: string): boolean {
  const real = realOrUndefined(path);
  return real !== undefined && mountTable().some((m) => m.point === real);
}

/** Whether the top mount at `path` is one of this driver's tmpfs (or a bind of one): what
 * start-up may unmount at a target a crash left behind, and nothing else. */
export function isDriverMount(path: string): boolean {
  const real = realOrUndefined(path);
  const top = mountTable().filter((m) => m.point === real).at(-1);
  return top?.fstype === "tmpfs" && top.source === TMPFS_SOURCE;
}

/** Mount points at or below `dir` (after resolving symlinks), deepest first. */
export function mountsBelow(dir: string): string[] {
  const real = realOrUndefined(dir);
  if (real === undefined) return [];
  return [...new Set(mountTable().map((m) => m.point))]
    .filter((p) => p === real || p.startsWith(`${real}/`))
    .sort((a, b) => b.length - a.length);
}

function decodeMountPath(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}
