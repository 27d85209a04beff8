import {
  assert,
  assertEquals,
  assertStringIncludes,
  assertThrows,
} from "../../tests/harness/assert.ts";
import { type Kept, KeptValue, type KeptValueOptions, type Timers } from "./kept_value.ts";

/** Timers on a hand-driven clock: `advance` runs each timer that falls due, in order. */
class FakeClock implements Timers {
  now = 0;
  #next = 1;
  readonly pending = new Map<number, { at: number; fn: () => void }>();

  set(fn: () => void, ms: number): number {
    const id = this.#next++;
    this.pending.set(id, { at: this.now + ms, fn });
    return id;
  }

  clear(id: unknown): void {
    this.pending.delete(id as number);
  }

  /** Milliseconds until the next timer, or undefined when none is set. */
  get nextIn(): number | undefined {
    const ats = [...this.pending.values()].map((t) => t.at);
    return ats.length ? Math.min(...ats) - this.now : undefined;
  }

  /** Moves the clock to the next timer and runs it. */
  fire(): void {
    const [id, t] = [...this.pending.entries()].sort((a, b) => a[1].at - b[1].at)[0]!;
    this.pending.delete(id);
    this.now = t.at;
    t.fn();
  }
}

/** A reader that answers from a script: a string is a value, an Error a failure. */
function setUp(script: Array<string | Error>, o: Partial<KeptValueOptions<string>> = {}) {
  const clock = new FakeClock();
  const warnings: Array<[string, boolean]> = [];
  const changes: Array<Kept<string>> = [];
  let reads = 0;
  const kept = new KeptValue<string>({
    read: () => {
      const next = script[Math.min(reads++, script.length - 1)]!;
      return next instanceof Error ? Promise.reject(next) : Promise.resolve(next);
    },
    firstRetryMs: 5_000,
    maxRetryMs: 300_000,
    refreshMs: 600_000,
    warn: (reason, had) => warnings.push([reason, had]),
    changed: (k) => changes.push(k),
    timers: clock,
    random: () => 0.999999,
    ...o,
  });
  const step = async () => {
    clock.fire();
    await kept.settled();
  };
  return { kept, clock, warnings, changes, reads: () => reads, step };
}

const gone = () => new Error("Secret d8-stronghold/stronghold-tls: 404 not found");

Deno.test("KeptValue starts unknown with the reason, retries, and knows the value once it reads", async () => {
  const t = setUp([gone(), gone(), "CA-1"]);
  await t.kept.start();
  assertEquals(t.kept.current, { known: false, reason: gone().message });
  await t.step();
  assertEquals(t.kept.current.known, false);
  await t.step();
  assertEquals(t.kept.current, { known: true, value: "CA-1" });
  assertEquals(t.reads(), 3);
  assertEquals(t.changes.map((c) => c.known), [false, true]);
});

Deno.test("KeptValue warns once per distinct reason, and again after a success", async () => {
  const other = new Error("Kubernetes API: no answer within 5000 ms");
  const t = setUp([gone(), gone(), other, gone(), "CA-1", gone(), gone()]);
  await t.kept.start();
  for (let i = 0; i < 6; i++) await t.step();
  assertEquals(t.warnings, [
    [gone().message, false],
    [other.message, false],
    // After CA-1 was read: the last value is kept, and the user is told again.
    [gone().message, true],
  ]);
});

Deno.test("KeptValue backs off doubling from firstRetryMs, never past maxRetryMs, jittered down to half", async () => {
  const t = setUp([gone()]);
  await t.kept.start();
  const delays: number[] = [];
  for (let i = 0; i < 10; i++) {
    delays.push(t.clock.nextIn!);
    await t.step();
  }
  assertEquals(delays, [
    5_000,
    10_000,
    20_000,
    40_000,
    80_000,
    160_000,
    300_000,
    300_000,
    300_000,
    300_000,
  ]);
  const low = setUp([gone()], { random: () => 0 });
  await low.kept.start();
  assertEquals(low.clock.nextIn, 2_500);
  for (let i = 0; i < 40; i++) await low.step();
  assertEquals(low.clock.nextIn, 150_000, "jitter keeps at least half of the bound");
  assertEquals(low.clock.pending.size, 1, "one timer at a time");
});

Deno.test("KeptValue re-reads a known value every refreshMs and picks up a replaced one", async () => {
  const t = setUp(["CA-1", "CA-1", "CA-2"]);
  await t.kept.start();
  assertEquals(t.clock.nextIn, 600_000);
  await t.step();
  assertEquals(t.changes.length, 1, "the same value is no change");
  await t.step();
  assertEquals(t.kept.current, { known: true, value: "CA-2" });
  assertEquals(t.changes.length, 2);
  assertEquals(t.clock.nextIn, 600_000);
});

Deno.test("KeptValue keeps the last value when a re-read fails, and retries with backoff", async () => {
  const t = setUp(["CA-1", gone(), "CA-1"]);
  await t.kept.start();
  await t.step();
  assertEquals(t.kept.current, { known: true, value: "CA-1" });
  assertEquals(t.warnings, [[gone().message, true]]);
  assertEquals(t.clock.nextIn, 5_000);
  await t.step();
  assertEquals(t.clock.nextIn, 600_000, "back to the refresh period after a success");
});

Deno.test("KeptValue stops reading once closed, also when a read is in flight", async () => {
  let release: (v: string) => void = () => {};
  const clock = new FakeClock();
  let reads = 0;
  const kept = new KeptValue<string>({
    read: () => (reads++, new Promise((r) => release = r)),
    firstRetryMs: 1,
    maxRetryMs: 2,
    refreshMs: 3,
    warn: () => {},
    timers: clock,
  });
  const started = kept.start();
  kept.close();
  release("CA-1");
  await started;
  assertEquals(kept.current.known, false, "a read that ends after close is ignored");
  assertEquals(clock.pending.size, 0);
  assertEquals(reads, 1);
});

Deno.test("KeptValue counts a reader that throws at once as a failed read", async () => {
  const t = setUp([], {
    read: () => {
      throw new TypeError("bad path");
    },
  });
  await t.kept.start();
  assertEquals(t.kept.current, { known: false, reason: "bad path" });
  assert(t.clock.nextIn !== undefined);
});

Deno.test("KeptValue refuses delays that are not positive, naming the option", () => {
  const e = assertThrows(
    () =>
      new KeptValue({
        read: () => Promise.resolve(1),
        firstRetryMs: 0,
        maxRetryMs: 1,
        refreshMs: 1,
        warn: () => {},
      }),
    TypeError,
  );
  assertStringIncludes(e.message, "firstRetryMs");
});
