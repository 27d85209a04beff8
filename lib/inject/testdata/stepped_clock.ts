/** A clock for the unit tests of the supervisor's loops: time moves only by the sleeps the
 * test lets go, one at a time, the earliest first. */
import type { Clock } from "../clock.ts";

export function steppedClock() {
  let now = 0;
  const sleeping: Array<{ at: number; wake: (ok: boolean) => void }> = [];
  const clock: Clock = {
    now: () => now,
    random: () => 0.5,
    sleep: (ms, sig) =>
      new Promise((wake) => {
        if (sig?.aborted) return wake(false);
        sleeping.push({ at: now + ms, wake });
        sig?.addEventListener("abort", () => wake(false), { once: true });
      }),
  };
  /** Ends the earliest sleep, moving the time to its end, and lets what it wakes run. */
  const advance = async () => {
    sleeping.sort((a, b) => a.at - b.at);
    const next = sleeping.shift();
    if (!next) return;
    now = Math.max(now, next.at);
    next.wake(true);
    for (let i = 0; i < 20; i++) await Promise.resolve();
  };
  return {
    clock,
    advance,
    get now() {
      return now;
    },
    /** Sleeps not yet ended. */
    get pending() {
      return sleeping.length;
    },
  };
}
