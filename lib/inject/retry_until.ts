/** A renewal (of the store token, of a dynamic secret's lease) retried after transient
 * failures while there is still time for it: a store that restarts, or one lost connection,
 * must not end what a second later could have been renewed. Bounded three ways: each attempt
 * by the request timeout and the deadline, the retries by the deadline (no wait that would
 * pass it), all of it by the stop signal (the injector's shutdown). */
import { StoreError } from "../vault/errors.ts";
import type { Clock } from "./clock.ts";
import { backoff } from "./watch.ts";

/** Backoff between attempts: first ceiling, largest ceiling (full jitter below each). */
const RETRY_BASE_MS = 1_000;
const RETRY_MAX_MS = 30_000;

export interface RetryUntilOptions {
  /** The clock time by which every attempt has ended. */
  deadline: number;
  requestTimeoutMs: number;
  clock: Clock;
  /** Ends the attempt in flight and the retries. */
  stop: AbortSignal;
  /** Told before each wait, with the failure's words. */
  onRetry: (reason: string) => void;
}

/** How it went; undefined when `stop` ended it. */
export type Retried<T> =
  | { ok: true; value: T; sentAt: number }
  /** `refused`: the store said no (not worth another try); else time ran out. */
  | { ok: false; refused: boolean; reason: string; sentAt: number; attempts: number }
  | undefined;

/** Calls `call` until it succeeds, the store refuses (a StoreError that is not retryable: 403,
 * 400, 404, ...), or the deadline leaves no time for another attempt. */
export async function retryUntil<T>(
  call: (signal: AbortSignal) => Promise<T>,
  o: RetryUntilOptions,
): Promise<Retried<T>> {
  for (let attempt = 0;; attempt++) {
    const sentAt = o.clock.now();
    const left = o.deadline - sentAt;
    try {
      if (left <= 0) throw new Error("no time was left to renew it");
      const timeout = AbortSignal.timeout(Math.min(o.requestTimeoutMs, left));
      const value = await call(AbortSignal.any([o.stop, timeout]));
      return { ok: true, value, sentAt };
    } catch (e) {
      if (o.stop.aborted) return undefined;
      const reason = (e as Error).message;
      const failed = { ok: false as const, reason, sentAt, attempts: attempt + 1 };
      if (e instanceof StoreError && !e.retryable) return { ...failed, refused: true };
      const wait = backoff(attempt, RETRY_BASE_MS, RETRY_MAX_MS, o.clock.random);
      if (o.clock.now() + wait >= o.deadline) return { ...failed, refused: false };
      o.onRetry(reason);
      if (!await o.clock.sleep(wait, o.stop)) return undefined;
    }
  }
}
