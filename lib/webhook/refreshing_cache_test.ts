import { assert, assertEquals } from "../../tests/harness/assert.ts";
import { collectGarbage } from "../sys/gc.ts";
import { RefreshingCache } from "./refreshing_cache.ts";

/** A cache on a hand-driven clock, and a loader that counts its calls. */
function setUp() {
  let clock = 0;
  const cache = new RefreshingCache<string>(10_000, () => clock);
  let loads = 0;
  const load = () => Promise.resolve(`v${++loads}`);
  return { cache, load, loads: () => loads, tick: (ms: number) => clock += ms };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

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
  await settle();
  assertEquals(t.cache.get("k", t.load), "v2");
});

Deno.test("past the TTL the old value is answered at once and a fresh one loads behind it", async () => {
  const t = setUp();
  await t.cache.get("k", t.load);
  t.tick(10_000);
  const [a, b] = [t.cache.get("k", t.load), t.cache.get("k", t.load)];
  assertEquals([await a, await b], ["v1", "v1"], "no caller waits for the refresh");
  assertEquals(t.loads(), 2, "one refresh at a time");
  await settle();
  assertEquals(await t.cache.get("k", t.load), "v2");
});

Deno.test("past two TTLs the caller waits for a fresh value", async () => {
  const t = setUp();
  await t.cache.get("k", t.load);
  t.tick(20_000);
  assertEquals(await t.cache.get("k", t.load), "v2");
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
  await settle();
  assertEquals(await t.cache.get("k", t.load), "v1", "still the old value, refreshing again");
  await settle();
  assertEquals(await t.cache.get("k", t.load), "v2");
});

Deno.test("values older than two TTLs are let go when another key loads, so memory stays bounded", async () => {
  let clock = 0;
  const cache = new RefreshingCache<object>(10_000, () => clock);
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
  // A WeakRef's target stays alive until the current job ends.
  await new Promise((resolve) => setTimeout(resolve, 0));
  assertEquals(collectGarbage(), true);
  assertEquals(refs.slice(0, 100).filter((r) => r.deref() !== undefined).length, 0);
  assert(refs[100]!.deref() !== undefined, "the young value is kept");
});
