import { assertEquals } from "../../tests/harness/assert.ts";
import { LruCache } from "./cache.ts";

Deno.test("LruCache forgets the least recently used entry when full", () => {
  const c = new LruCache<string, number>(2);
  c.set("a", 1);
  c.set("b", 2);
  assertEquals(c.get("a"), 1); // "b" is now the oldest
  c.set("c", 3);
  assertEquals([c.get("a"), c.get("b"), c.get("c"), c.size], [1, undefined, 3, 2]);
});

Deno.test("LruCache entries expire after their TTL, others stay", () => {
  let now = 1000;
  const c = new LruCache<string, string>(10, () => now);
  c.set("tag", "sha256:old", 50);
  c.set("digest", "config");
  now += 49;
  assertEquals(c.get("tag"), "sha256:old");
  now += 1;
  assertEquals([c.get("tag"), c.get("digest"), c.size], [undefined, "config", 1]);
});

Deno.test("LruCache set() replaces a value and its expiry", () => {
  let now = 0;
  const c = new LruCache<string, string>(10, () => now);
  c.set("k", "v1", 10);
  c.set("k", "v2", 100);
  now = 50;
  assertEquals([c.get("k"), c.size], ["v2", 1]);
});
