/** The watch loop of `restart-on-secret-change`: every poll interval (±30 %, so the
 * containers of one rollout do not poll together) the resolved values are read again and
 * hashed; a changed hash is read once more, and only a second read that gives the same new
 * hash is a confirmed change. A poll that fails is retried a bounded number of times with
 * backoff and jitter, then given up until the next interval: the app keeps running, since
 * a change that cannot be seen cannot be confirmed. */
import type { Logger } from "../log/logger.ts";
import { type Clock, realClock } from "./clock.ts";

/** The module's ±30 %. */
export const JITTER = 0.3;

/** An interval of `ms` with ±JITTER. */
export function jittered(ms: number, random: () => number): number {
  return Math.round(ms * (1 - JITTER + 2 * JITTER * random()));
}

/** Full-jitter backoff before retry `attempt` (0-based). */
export function backoff(attempt: number, baseMs: number, maxMs: number, random: () => number) {
  return Math.round(random() * Math.min(maxMs, baseMs * 2 ** attempt));
}

/** SHA-256 over the variables, sorted, each name and value length-prefixed (so no two
 * different environments share an encoding). Only the hash is kept between polls. */
export async function hashEnv(env: Record<string, string>): Promise<string> {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  for (const [k, v] of Object.entries(env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    for (const s of [k, v]) {
      const b = enc.encode(s);
      parts.push(enc.encode(`${b.length}:`), b);
    }
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) all.set(p, (at += p.length) - p.length);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

export interface WatchOptions {
  intervalMs: number;
  /** The hash of the values the app was started with. */
  initialHash: string;
  /** Reads every value again and returns its hash; throws when any read fails. */
  poll: () => Promise<string>;
  /** Called once, on a confirmed change; the loop ends. */
  onChange: () => void;
  logger: Logger;
  clock?: Clock;
  /** Attempts after a failed poll within one interval; default 3. */
  retries?: number;
}

export interface Watch {
  /** Polls made, retries and confirmations included. */
  readonly polls: number;
  /** Ends the loop; resolves when it has. */
  stop(): Promise<void>;
}

export function startWatch(o: WatchOptions): Watch {
  const clock = o.clock ?? realClock;
  const retries = o.retries ?? 3;
  // Retries stay well inside one interval, so a poll never overlaps the next.
  const maxBackoff = Math.max(1, Math.floor(o.intervalMs / (2 * (retries + 1))));
  const stopped = new AbortController();
  let polls = 0;
  const poll = async () => {
    polls++;
    return await o.poll();
  };
  /** The hash, or undefined after `retries` failed attempts. */
  const pollWithRetries = async (): Promise<string | undefined> => {
    for (let attempt = 0;; attempt++) {
      try {
        return await poll();
      } catch (e) {
        if (stopped.signal.aborted) return undefined;
        if (attempt >= retries) {
          o.logger.warn("cannot poll the store for changed secrets; the app keeps running", {
            attempts: attempt + 1,
            reason: (e as Error).message,
          });
          return undefined;
        }
        const wait = backoff(attempt, 1_000, maxBackoff, clock.random);
        if (!await clock.sleep(wait, stopped.signal)) return undefined;
      }
    }
  };
  const loop = (async () => {
    const current = o.initialHash;
    while (await clock.sleep(jittered(o.intervalMs, clock.random), stopped.signal)) {
      const seen = await pollWithRetries();
      if (seen === undefined || seen === current || stopped.signal.aborted) continue;
      // Confirmed only by a second read that agrees: a store behind a load balancer can
      // answer from a replica that is behind, and then from one that is not.
      const again = await pollWithRetries();
      if (stopped.signal.aborted) return;
      if (again !== seen) {
        o.logger.warn("a change of the secret values was seen but not confirmed; polling on");
        continue;
      }
      o.onChange();
      return;
    }
  })();
  return {
    get polls() {
      return polls;
    },
    async stop() {
      stopped.abort();
      await loop;
    },
  };
}
