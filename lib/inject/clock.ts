/** Time for the supervisor's loops, injectable so their unit tests run without waiting. */
import { sleep } from "../vault/retry.ts";

export interface Clock {
  now(): number;
  /** Resolves true after `ms`, false as soon as `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<boolean>;
  /** In [0, 1). */
  random(): number;
}

export const realClock: Clock = { now: () => Date.now(), sleep, random: Math.random };
