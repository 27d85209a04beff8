/** errno of the libc call that just failed, and its text. lib/sys/libc.ts, the one
 * Deno.dlopen of libc, spreads ERRNO_SYMBOLS into it and reads errno right after the failing
 * call, before anything else can overwrite it. */

export const ERRNO_SYMBOLS = {
  __errno_location: { parameters: [], result: "pointer" },
  strerror: { parameters: ["i32"], result: "pointer" },
} as const;

interface ErrnoFns {
  __errno_location(): Deno.PointerValue;
  strerror(errno: number): Deno.PointerValue;
}

/** The calling thread's errno. */
export function lastErrno(libc: ErrnoFns): number {
  const p = libc.__errno_location();
  return p ? new Deno.UnsafePointerView(p).getInt32() : 0;
}

/** strerror(errno), e.g. "No such file or directory". */
export function errnoText(libc: ErrnoFns, errno: number): string {
  const text = libc.strerror(errno);
  return text ? Deno.UnsafePointerView.getCString(text) : `errno ${errno}`;
}
