/** Every libc call the product makes, through this one Deno.dlopen: Deno offers no API to
 * reset signal dispositions or the mask, to set a resource limit, to replace the process
 * (the injector), to reap a process that is not its own child (the supervisor), to mount (the CSI driver), or to set a socket option or shut a socket down
 * (the webhook). Opened on first use and kept for the life of the isolate. Linux x86_64 and aarch64 with glibc (the only targets built) share the
 * struct layouts used here. Each call returns an errno (0 on success) rather than throwing, so
 * callers decide which failures matter. */
import { ERRNO_SYMBOLS, errnoText, lastErrno } from "./errno.ts";

const SYMBOLS = {
  execve: { parameters: ["buffer", "buffer", "buffer"], result: "i32" },
  sigaction: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  pthread_sigmask: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getrlimit: { parameters: ["i32", "buffer"], result: "i32" },
  setrlimit: { parameters: ["i32", "buffer"], result: "i32" },
  sysconf: { parameters: ["i32"], result: "i64" },
  mount: { parameters: ["buffer", "buffer", "buffer", "u64", "buffer"], result: "i32" },
  umount2: { parameters: ["buffer", "i32"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  shutdown: { parameters: ["i32", "i32"], result: "i32" },
  waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  prctl: { parameters: ["i32", "u64", "u64", "u64", "u64"], result: "i32" },
  ...ERRNO_SYMBOLS,
} as const;

let lib: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;
const libc = () => (lib ??= Deno.dlopen("libc.so.6", SYMBOLS)).symbols;

export const EINVAL = 22;
export const E2BIG = 7;
export const RLIMIT_NOFILE = 7;
/** RLIM_INFINITY, "unlimited". */
export const RLIM_INFINITY = 0xffff_ffff_ffff_ffffn;
/** Signals are 1..64 on Linux (_NSIG - 1). */
export const MAX_SIGNAL = 64;

const SIG_SETMASK = 2;
const _SC_ARG_MAX = 0;
/** glibc's struct sigaction: handler (8), sa_mask (128), flags (4 + 4 padding), restorer (8).
 * All zeros is SIG_DFL with an empty mask and no flags. */
const SIGACTION_SIZE = 152;
/** glibc's sigset_t: 1024 bits. All zeros is the empty set. */
const SIGSET_SIZE = 128;

/** strerror(errno). */
export function errorText(errno: number): string {
  return errnoText(libc(), errno);
}

const errnoOf = (rc: number | bigint) => (Number(rc) === -1 ? lastErrno(libc()) || EINVAL : 0);

/** sigaction(sig, SIG_DFL). */
export function defaultSignal(sig: number): number {
  return errnoOf(libc().sigaction(sig, new Uint8Array(SIGACTION_SIZE), null));
}

/** pthread_sigmask(SIG_SETMASK, {}): the calling thread, the one that execs, blocks nothing. */
export function unblockAllSignals(): number {
  return libc().pthread_sigmask(SIG_SETMASK, new Uint8Array(SIGSET_SIZE), null);
}

export interface Rlimit {
  soft: bigint;
  hard: bigint;
}

/** getrlimit(resource). */
export function getRlimit(resource: number): Rlimit {
  const buf = new BigUint64Array(2);
  const errno = errnoOf(libc().getrlimit(resource, buf));
  if (errno !== 0) throw new Error(`getrlimit(${resource}): ${errorText(errno)}`);
  return { soft: buf[0]!, hard: buf[1]! };
}

/** setrlimit(resource, limit); returns errno. */
export function setRlimit(resource: number, limit: Rlimit): number {
  return errnoOf(libc().setrlimit(resource, new BigUint64Array([limit.soft, limit.hard])));
}

/** sysconf(_SC_ARG_MAX): what execve accepts for argv and envp together (a quarter of
 * RLIMIT_STACK, at least 128 KiB). */
export function argMax(): number {
  return Number(libc().sysconf(_SC_ARG_MAX));
}

/** execve(path, argv, envp) with NULL-terminated arrays of C strings; returns errno, since it
 * returns only on failure. */
export function execve(path: Uint8Array, argv: Uint8Array[], envp: Uint8Array[]): number {
  const array = (items: Uint8Array[]) => {
    const ptrs = new BigUint64Array(items.length + 1);
    items.forEach((b, i) => ptrs[i] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(b))));
    return ptrs;
  };
  // argv and envp hold the buffers alive across the call.
  return errnoOf(libc().execve(path, array(argv), array(envp)));
}

/** mount(source, target, fstype, flags, data) with NUL-terminated strings (null for none);
 * returns errno. */
export function mount(
  source: Uint8Array<ArrayBuffer> | null,
  target: Uint8Array<ArrayBuffer>,
  fstype: Uint8Array<ArrayBuffer> | null,
  flags: number,
  data: Uint8Array<ArrayBuffer> | null,
): number {
  return errnoOf(libc().mount(source, target, fstype, BigInt(flags), data));
}

/** umount2(target, flags) with a NUL-terminated path; returns errno. */
export function umount2(target: Uint8Array<ArrayBuffer>, flags: number): number {
  return errnoOf(libc().umount2(target, flags));
}

/** setsockopt(fd, level, name, &int, 4) for an int option; returns errno. */
export function setIntSockopt(fd: number, level: number, name: number, value: number): number {
  return errnoOf(libc().setsockopt(fd, level, name, new Int32Array([value]), 4));
}

/** shutdown(fd, how); returns errno. */
export function shutdown(fd: number, how: number): number {
  return errnoOf(libc().shutdown(fd, how));
}

const WNOHANG = 1;
const PR_SET_CHILD_SUBREAPER = 36;

/** waitpid(pid, &status, WNOHANG): reaps `pid` if it has ended. Returns the pid reaped, 0
 * when it is still running, or -errno (ECHILD: not a child, or already reaped). Only ever
 * called with a pid the caller chose: waitpid(-1) could take the status of a child the
 * runtime itself waits for (lib/inject/reaper.ts). */
export function reapIfEnded(pid: number): number {
  const rc = libc().waitpid(pid, new Int32Array(1), WNOHANG);
  return rc === -1 ? -(lastErrno(libc()) || EINVAL) : rc;
}

/** prctl(PR_SET_CHILD_SUBREAPER, 1): orphans below this process are re-parented to it rather
 * than to PID 1 (which this process is in a container anyway); returns errno. */
export function becomeSubreaper(): number {
  return errnoOf(libc().prctl(PR_SET_CHILD_SUBREAPER, 1n, 0n, 0n, 0n));
}
