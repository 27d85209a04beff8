/** A deadline for one awaited condition, so a test whose condition never comes true fails
 * naming what it waited for instead of hanging the run. */

/** Resolves as `p` does, or rejects after `ms` with "timed out after <ms> ms waiting for
 * <what>". The timer is cleared either way, so it never trips deno test's op sanitizer. */
export function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)),
      ms,
    );
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}
