import { assert, assertEquals, assertThrows } from "../../tests/harness/assert.ts";
import { collectGarbage } from "./gc.ts";
import { RefreshingCache, type RefreshingCacheOptions } from "./refreshing_cache.ts";

/** A cache on a hand-driven clock, and a loader that counts its calls. */
function setUp(o: Partial<RefreshingCacheOptions<string>> = {}) {
  let clock = 0;
  const cache = new RefreshingCache<string>({
    ttlMs: 10_000,
    maxEntries: 100,
    now: () => clock,
    ...o,
  });
  let loads = 0;
  const load = () => Promise.resolve(`v${++loads}`);
  return { cache, load, loads: () => loads, tick: (ms: number) => clock += ms };
}

/** A load that waits until released, to have callers overlap it. */
function held<V>(value: V) {
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  let calls = 0;
  return {
    load: async () => (calls++, await gate, value),
    release,
    calls: () => calls,
  };
}

Deno.test("RefreshingCache refuses a negative TTL and a bound that is not a positive integer", () => {
  for (
    const o of [
      { ttlMs: -1, maxEntries: 1 },
      { ttlMs: NaN, maxEntries: 1 },
      { ttlMs: 1, maxEntries: 0 },
      { ttlMs: 1, maxEntries: 1.5 },
      { ttlMs: 1, maxEntries: 1, maxBytes: 0 },
    ]
  ) assertThrows(() => new RefreshingCache(o), TypeError);
});

Deno.test("a young value is reused without loading again", async () => {
  const t = setUp();
  assertEquals(await t.cache.get("k", t.load), "v1");
  t.tick(9_999);
  assertEquals(await t.cache.get("k", t.load), "v1");
  assertEquals(await t.cache.get("other", t.load), "v2", "keys are separate");
  assertEquals(t.loads(), 2);
});

Deno.test("a loaded value comes back as itself, so a caller need not wait a turn", async () => {
  const t = setUp();
  const first = t.cache.get("k", t.load);
  assertEquals(first instanceof Promise, true, "the first load is waited for");
  assertEquals(await first, "v1");
  assertEquals(t.cache.get("k", t.load), "v1");
  t.tick(10_000);
  assertEquals(t.cache.get("k", t.load), "v1", "also while it refreshes");
  await t.cache.settled();
  assertEquals(t.cache.get("k", t.load), "v2");
});

Deno.test("past the TTL the old value is answered at once and a fresh one loads behind it", async () => {
  const t = setUp();
  await t.cache.get("k", t.load);
  t.tick(10_000);
  const [a, b] = [t.cache.get("k", t.load), t.cache.get("k", t.load)];
  assertEquals([await a, await b], ["v1", "v1"], "no caller waits for the refresh");
  assertEquals(t.loads(), 2, "one refresh at a time");
  await t.cache.settled();
  assertEquals(await t.cache.get("k", t.load), "v2");
  t.tick(9_999);
  assertEquals([t.cache.get("k", t.load), t.loads()], ["v2", 2], "young from its refresh on");
});

Deno.test("past two TTLs the caller waits for a fresh value", async () => {
  const t = setUp();
  await t.cache.get("k", t.load);
  t.tick(20_000);
  const got = t.cache.get("k", t.load);
  assert(got instanceof Promise, "a value two TTLs old is not answered");
  assertEquals(await got, "v2");
});

Deno.test("a refresh still in flight past two TTLs is joined, not started again", async () => {
  const t = setUp();
  await t.cache.get("k", t.load);
  t.tick(10_000);
  const slow = held("fresh");
  assertEquals(t.cache.get("k", slow.load), "v1");
  t.tick(10_000);
  const waiting = t.cache.get("k", slow.load);
  assert(waiting instanceof Promise);
  slow.release();
  assertEquals([await waiting, slow.calls()], ["fresh", 1]);
});

Deno.test("callers that come while the first load runs share it, even at TTL zero", async () => {
  const t = setUp({ ttlMs: 0 });
  const slow = held("one");
  const [a, b] = [t.cache.get("k", slow.load), t.cache.get("k", slow.load)];
  assertEquals(t.cache.peek("k"), undefined, "peek() does not wait for a load");
  slow.release();
  assertEquals([await a, await b, slow.calls()], ["one", "one", 1]);
  assertEquals(await t.cache.get("k", t.load), "v1", "at TTL zero nothing is kept");
});

Deno.test("a failed load is not kept, and a failed refresh keeps the old value", async () => {
  const t = setUp();
  const fail = () => Promise.reject(new Error("API down"));
  let failed = "";
  await Promise.resolve(t.cache.get("k", fail)).catch((e) => failed = e.message);
  assertEquals(failed, "API down");
  assertEquals(await t.cache.get("k", t.load), "v1", "the next call loads again");
  t.tick(10_000);
  assertEquals(await t.cache.get("k", fail), "v1");
  await t.cache.settled();
  assertEquals(await t.cache.get("k", t.load), "v1", "still the old value, refreshing again");
  await t.cache.settled();
  assertEquals(await t.cache.get("k", t.load), "v2");
});

Deno.test("peek() answers from the cache alone and refreshes a stale value when given a loader", async () => {
  const t = setUp();
  assertEquals([t.cache.peek("k", t.load), t.loads()], [undefined, 0], "no first load");
  await t.cache.get("k", t.load);
  assertEquals(t.cache.peek("k"), "v1");
  t.tick(10_000);
  assertEquals(t.cache.peek("k"), "v1", "stale, and nothing to refresh with");
  await t.cache.settled();
  assertEquals([t.cache.peek("k", t.load), t.loads()], ["v1", 2]);
  await t.cache.settled();
  assertEquals(t.cache.peek("k"), "v2");
  t.tick(20_000);
  assertEquals(t.cache.peek("k", t.load), undefined, "two TTLs old");
});

Deno.test("settled() waits for every load in flight, also one started meanwhile, and never rejects", async () => {
  const t = setUp();
  const first = held("a");
  const second = held("b");
  void t.cache.get("x", first.load);
  const p = Promise.resolve(t.cache.get("y", () => Promise.reject(new Error("down"))));
  p.catch(() => {});
  let done = false;
  const settling = t.cache.settled().then(() => done = true);
  void t.cache.get("z", second.load);
  first.release();
  await Promise.resolve(t.cache.get("x", t.load));
  assertEquals(done, false, "the second load still runs");
  second.release();
  await settling;
  assertEquals([t.cache.peek("x"), t.cache.peek("y"), t.cache.peek("z")], ["a", undefined, "b"]);
});

Deno.test("the cache keeps at most maxEntries, letting the least recently used go first", async () => {
  const t = setUp({ maxEntries: 2 });
  await t.cache.get("a", t.load);
  await t.cache.get("b", t.load);
  assertEquals(t.cache.get("a", t.load), "v1"); // "b" is now the least recently used
  await t.cache.get("c", t.load);
  assertEquals([t.cache.peek("a"), t.cache.peek("b"), t.cache.peek("c")], ["v1", undefined, "v3"]);
  assertEquals(t.cache.size, 2);
});

Deno.test("the cache keeps at most maxBytes of values; one larger alone is answered, not kept", async () => {
  let clock = 0;
  const cache = new RefreshingCache<string>({
    ttlMs: 10_000,
    maxEntries: 100,
    maxBytes: 10,
    sizeOf: (v) => v.length,
    now: () => clock,
  });
  await cache.get("a", () => Promise.resolve("aaaa"));
  await cache.get("b", () => Promise.resolve("bbbb"));
  await cache.get("c", () => Promise.resolve("cccc"));
  assertEquals([cache.peek("a"), cache.peek("b"), cache.peek("c")], [undefined, "bbbb", "cccc"]);
  assertEquals(cache.bytes, 8);
  assertEquals(await cache.get("big", () => Promise.resolve("x".repeat(11))), "x".repeat(11));
  assertEquals([cache.peek("big"), cache.peek("b"), cache.bytes], [undefined, "bbbb", 8]);
  // A refresh counts its new value in place of the old one.
  clock += 10_000;
  cache.get("b", () => Promise.resolve("bb"));
  await cache.settled();
  assertEquals([cache.peek("b"), cache.bytes], ["bb", 6]);
});

Deno.test("set() stores a value that an infinite TTL keeps until the bound lets it go", () => {
  let clock = 0;
  const cache = new RefreshingCache<string>({ ttlMs: Infinity, maxEntries: 2, now: () => clock });
  cache.set("sha256:a", "config a");
  cache.set("sha256:a", "config a'");
  clock += 1e12;
  assertEquals([cache.peek("sha256:a"), cache.size], ["config a'", 1]);
  cache.set("sha256:b", "b");
  cache.set("sha256:c", "c");
  assertEquals([cache.peek("sha256:a"), cache.size], [undefined, 2]);
});

Deno.test("values older than two TTLs are let go when another key loads, so memory stays bounded", async () => {
  let clock = 0;
  const cache = new RefreshingCache<object>({ ttlMs: 10_000, maxEntries: 1000, now: () => clock });
  // Each value is held by the cache only; a WeakRef tells whether the cache let it go.
  const refs: WeakRef<object>[] = [];
  const load = () => {
    const v = { big: new Array(10_000).fill(0) };
    refs.push(new WeakRef(v));
    return Promise.resolve(v);
  };
  for (let i = 0; i < 100; i++) await cache.get(`image-${i}`, load);
  clock += 20_000;
  await cache.get("another", load);
  assertEquals(cache.size, 1);
  // A WeakRef's target stays alive until the current job ends.
  await new Promise((resolve) => setTimeout(resolve, 0));
  assertEquals(collectGarbage(), true);
  assertEquals(refs.slice(0, 100).filter((r) => r.deref() !== undefined).length, 0);
  assert(refs[100]!.deref() !== undefined, "the young value is kept");
});
