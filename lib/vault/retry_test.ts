import { assertEquals, assertRejects } from "../../tests/harness/assert.ts";
import { retry, sleep } from "./retry.ts";
import { MAX_TIMER_MS } from "../sys/timer.ts";

Deno.test("retry() returns the first success and stops trying", async () => {
  let calls = 0;
  const v = await retry(
    () => (++calls < 3 ? Promise.reject(new Error("net")) : Promise.resolve("ok")),
    () => true,
    {
      retries: 5,
      baseMs: 1,
      maxMs: 1,
    },
  );
  assertEquals([v, calls], ["ok", 3]);
});

Deno.test("retry() does not retry what shouldRetry refuses", async () => {
  let calls = 0;
  await assertRejects(
    () =>
      retry(
        () => (calls++, Promise.reject(new TypeError("403"))),
        (e) => !(e instanceof TypeError),
        {
          retries: 5,
          baseMs: 1,
          maxMs: 1,
        },
      ),
    TypeError,
  );
  assertEquals(calls, 1);
});

Deno.test("retry() gives up after `retries` extra attempts with the last error", async () => {
  let calls = 0;
  const e = await assertRejects(
    () =>
      retry(() => Promise.reject(new Error(`attempt ${++calls}`)), () => true, {
        retries: 2,
        baseMs: 1,
        maxMs: 1,
      }),
    Error,
  );
  assertEquals([calls, e.message], [3, "attempt 3"]);
});

Deno.test("retry() stops waiting as soon as the signal aborts", async () => {
  const ac = new AbortController();
  let calls = 0;
  const p = retry(() => (calls++, Promise.reject(new Error("net"))), () => true, {
    retries: 10,
    baseMs: 60_000,
    maxMs: 60_000,
    signal: ac.signal,
    random: () => 1,
  });
  setTimeout(() => ac.abort(), 20);
  await assertRejects(() => p, Error);
  assertEquals(calls, 1);
});

Deno.test("sleep() longer than a timer holds does not end at once, and still ends on abort", async () => {
  // A month-long token renewed at two thirds sleeps three weeks: one setTimeout of that fires
  // within a millisecond, which would renew in a tight loop.
  const stop = new AbortController();
  const long = sleep(MAX_TIMER_MS + 5_000, stop.signal);
  const first = await Promise.race([long, sleep(200).then(() => "still asleep")]);
  stop.abort();
  assertEquals([first, await long], ["still asleep", false]);
});
