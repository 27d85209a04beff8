import { assert, assertEquals } from "../../tests/harness/assert.ts";
import { silentLogger } from "../log/logger.ts";
import type { Clock } from "./clock.ts";
import { backoff, hashEnv, jittered, startWatch } from "./watch.ts";

/** A clock whose sleeps end at once (or on abort), recording each wait. */
function fakeClock(random = () => 0.5): Clock & { waits: number[] } {
  const waits: number[] = [];
  return {
    waits,
    now: () => 0,
    random,
    sleep(ms, signal) {
      waits.push(ms);
      return Promise.resolve(!signal?.aborted);
    },
  };
}

Deno.test("jittered() stays within ±30 % of the interval", () => {
  assertEquals(jittered(120_000, () => 0), 84_000);
  assertEquals(jittered(120_000, () => 0.5), 120_000);
  assertEquals(jittered(120_000, () => 0.999999), 156_000);
});

Deno.test("backoff() doubles its ceiling per attempt up to the maximum, jittered below it", () => {
  const top = () => 0.999999;
  assertEquals([0, 1, 2, 3, 10].map((a) => backoff(a, 1_000, 5_000, top)), [
    1_000,
    2_000,
    4_000,
    5_000,
    5_000,
  ]);
  assertEquals(backoff(2, 1_000, 5_000, () => 0), 0);
});

Deno.test("hashEnv() ignores order and tells apart environments whose concatenations agree", async () => {
  assertEquals(await hashEnv({ A: "1", B: "2" }), await hashEnv({ B: "2", A: "1" }));
  assert(await hashEnv({ A: "1" }) !== await hashEnv({ A: "2" }));
  assert(await hashEnv({ AB: "C" }) !== await hashEnv({ A: "BC" }));
  assert(await hashEnv({ A: "1:2" }) !== await hashEnv({ A: "1", "2": "" }));
});

/** Runs a watch whose polls answer from `answers` (an Error throws) until `stopAfter` polls. */
async function run(answers: Array<string | Error>, stopAfter: number, retries = 3) {
  const clock = fakeClock();
  let changes = 0;
  let n = 0;
  let stop: () => void = () => {};
  const stopped = new Promise<void>((r) => (stop = r));
  const w = startWatch({
    intervalMs: 10_000,
    initialHash: "h0",
    logger: silentLogger,
    clock,
    retries,
    onChange: () => {
      changes++;
      stop();
    },
    poll: () => {
      const a = answers[Math.min(n, answers.length - 1)]!;
      if (++n >= stopAfter) stop();
      return a instanceof Error ? Promise.reject(a) : Promise.resolve(a);
    },
  });
  await stopped;
  await w.stop();
  return { changes, polls: w.polls, waits: clock.waits };
}

Deno.test("startWatch(): no change, no restart across many intervals", async () => {
  const r = await run(["h0"], 20);
  assertEquals(r.changes, 0);
  assert(r.polls >= 20);
});

Deno.test("startWatch(): a change read twice alike is confirmed, once", async () => {
  const r = await run(["h0", "h0", "h1", "h1"], 100);
  assertEquals([r.changes, r.polls], [1, 4]);
});

Deno.test("startWatch(): a change the second read does not repeat is no restart", async () => {
  const r = await run(["h1", "h0", "h0", "h0"], 6);
  assertEquals(r.changes, 0);
});

Deno.test("startWatch(): failed polls keep the app running, bounded retries per interval", async () => {
  const down = new Error("unreachable");
  const r = await run([down], 12, 3);
  assertEquals(r.changes, 0);
  // Each interval: 1 try + 3 retries, each retry after a backoff within the interval.
  const groups = r.waits.map((w) => (w === 10_000 ? "|" : "b")).join("").split("|").slice(1, -1);
  assert(groups.length >= 2, r.waits.join(","));
  assert(groups.every((g) => g === "bbb"), r.waits.join(","));
  assert(r.waits.every((w) => w <= 10_000));
});

Deno.test("startWatch(): a failed confirmation is no restart", async () => {
  const down = new Error("unreachable");
  const r = await run(["h1", down, down, down, down, "h0"], 8);
  assertEquals(r.changes, 0);
});
