/** Retries with exponential backoff and full jitter, so many clients that failed together
 * do not come back together. */
import { MAX_TIMER_MS } from "../sys/timer.ts";

export interface RetryOptions {
  /** Extra attempts after the first. */
  retries: number;
  /** First backoff ceiling; doubles each attempt up to `maxMs`. */
  baseMs: number;
  maxMs: number;
  /** Stops waiting (and retrying) once aborted. */
  signal?: AbortSignal | undefined;
  /** Injected for tests; Math.random by default. */
  random?: () => number;
}

/** Runs `fn` until it succeeds, `shouldRetry` says no, or attempts run out; throws the last error. */
export async function retry<T>(
  fn: (attempt: number) => Promise<T>,
  shouldRetry: (e: unknown) => boolean,
  o: RetryOptions,
): Promise<T> {
  const random = o.random ?? Math.random;
  for (let attempt = 0;; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      if (attempt >= o.retries || !shouldRetry(e) || o.signal?.aborted) throw e;
      const ceiling = Math.min(o.maxMs, o.baseMs * 2 ** attempt);
      if (!await sleep(Math.round(random() * ceiling), o.signal)) throw e;
    }
  }
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. A wait longer than a timer
 * holds (a token or lease of a month is renewed after three weeks) is slept in parts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    let t: ReturnType<typeof setTimeout>;
    const stop = () => (clearTimeout(t), resolve(false));
    const wait = (left: number) => {
      t = setTimeout(() => {
        if (left > MAX_TIMER_MS) return wait(left - MAX_TIMER_MS);
        signal?.removeEventListener("abort", stop);
        resolve(true);
      }, Math.min(left, MAX_TIMER_MS));
    };
    signal?.addEventListener("abort", stop, { once: true });
    wait(ms);
  });
}
