import { assert, assertEquals, assertRejects } from "../../tests/harness/assert.ts";
import { BodyTooLargeError, readBody, readText } from "./body.ts";

/** A body far larger than any limit tested (it ends, so a reader without a limit finishes and
 * fails the test instead of hanging it), counting how many chunks were pulled from it. */
function endless(chunk: number): { res: Response; pulled: () => number; cancelled: () => boolean } {
  let pulled = 0;
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (++pulled > 1000) return c.close();
      c.enqueue(new Uint8Array(chunk));
    },
    cancel() {
      cancelled = true;
    },
  });
  return { res: new Response(stream), pulled: () => pulled, cancelled: () => cancelled };
}

Deno.test("a huge body without Content-Length stops at the limit and is cancelled", async () => {
  const body = endless(1024);
  const e = await assertRejects(() => readBody(body.res, 10_000), BodyTooLargeError);
  assertEquals(e.max, 10_000);
  assertEquals(e.message, "answer larger than 10000 bytes");
  // 10 chunks fit, the 11th passes the limit; the stream may have queued one more ahead.
  assert(body.pulled() <= 12, `pulled ${body.pulled()} chunks`);
  assertEquals(body.cancelled(), true);
});

Deno.test("a declared Content-Length over the limit is refused before reading", async () => {
  const body = endless(1024);
  const res = new Response(body.res.body, { headers: { "content-length": "10001" } });
  await assertRejects(() => readBody(res, 10_000), BodyTooLargeError);
  assert(body.pulled() <= 1, `pulled ${body.pulled()} chunks`);
});

Deno.test("a body of exactly the limit is read whole, in order", async () => {
  const parts = [new Uint8Array([1, 2, 3]), new Uint8Array([4, 5])];
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      for (const p of parts) c.enqueue(p);
      c.close();
    },
  });
  assertEquals([...await readBody(new Response(stream), 5)], [1, 2, 3, 4, 5]);
  assertEquals(await readText(new Response("héllo"), 6), "héllo");
  assertEquals((await readBody(new Response(null), 0)).length, 0);
});
