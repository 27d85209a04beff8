import { assertEquals, assertRejects } from "../../tests/harness/assert.ts";
import { mapBounded } from "./bounded.ts";

/** Calls that finish only when the test says so, to see how many are in flight. */
function gated() {
  const waiting: Array<() => void> = [];
  let inFlight = 0, most = 0;
  const fn = async (n: number) => {
    inFlight++;
    most = Math.max(most, inFlight);
    await new Promise<void>((resolve) => waiting.push(resolve));
    inFlight--;
    return n * 10;
  };
  return { fn, waiting, most: () => most };
}

Deno.test("mapBounded() keeps at most `limit` calls in flight and gives results in order", async () => {
  const g = gated();
  const run = mapBounded([1, 2, 3, 4, 5], 2, g.fn);
  for (let released = 0; released < 5; released++) {
    await new Promise((r) => setTimeout(r, 0));
    assertEquals(g.waiting.length, Math.min(2, 5 - released), `waiting after ${released} released`);
    // Release the newest first, so results arrive out of order.
    g.waiting.pop()!();
  }
  assertEquals(await run, [10, 20, 30, 40, 50]);
  assertEquals(g.most(), 2);
});

Deno.test("mapBounded() calls each item once, with its index, and handles fewer items than the limit", async () => {
  const seen: Array<[string, number]> = [];
  assertEquals(
    await mapBounded(["a", "b"], 8, (s, i) => {
      seen.push([s, i]);
      return Promise.resolve(s.toUpperCase());
    }),
    ["A", "B"],
  );
  assertEquals(seen, [["a", 0], ["b", 1]]);
  assertEquals(await mapBounded([], 3, () => Promise.resolve(1)), []);
});

Deno.test("mapBounded() rejects with the call's error, and refuses a limit below one", async () => {
  const e = await assertRejects(
    () =>
      mapBounded(
        [1, 2],
        1,
        (n) => n === 2 ? Promise.reject(new Error("boom 2")) : Promise.resolve(n),
      ),
    Error,
  );
  assertEquals(e.message, "boom 2");
  await assertRejects(() => mapBounded([1], 0, () => Promise.resolve(1)), RangeError);
});
