import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "../../tests/harness/assert.ts";
import { endlessAnswer, withLocalServer } from "../../tests/harness/local_http.ts";
import { within } from "../../tests/harness/within.ts";
import { FetchTransport } from "./fetch_transport.ts";
import { MAX_BODY, TransportError } from "./transport.ts";

/** Runs `fn` with a transport and a URL on a local server answering with `handler`. */
function withServer(
  handler: (req: Request) => Response | Promise<Response>,
  fn: (url: URL, t: FetchTransport) => Promise<void>,
): Promise<void> {
  return withLocalServer(handler, async (origin) => {
    const t = new FetchTransport();
    try {
      await fn(new URL(`${origin}/v1/demo-kv/data/x`), t);
    } finally {
      t.close();
    }
  });
}

Deno.test("FetchTransport answers with the status and body, and hands a redirect back unfollowed", async () => {
  let asked = 0;
  await withServer((req) => {
    asked++;
    return new URL(req.url).pathname === "/elsewhere"
      ? new Response("followed")
      : new Response(null, { status: 307, headers: { location: "/elsewhere" } });
  }, async (url, t) => {
    const r = await t.request({
      method: "GET",
      url,
      headers: { "x-vault-token": "s.token" },
      timeoutMs: 5000,
    });
    assertEquals(r.status, 307);
    assertEquals(asked, 1, "the token was not sent to the redirect's target");
  });
});

Deno.test("FetchTransport refuses an answer over MAX_BODY, declared or chunked, without reading it all", async () => {
  const endless = endlessAnswer();
  const declared = () => new Response(new Uint8Array(MAX_BODY + 1));
  for (const [what, answer] of [["declared", declared], ["chunked", endless.answer]] as const) {
    await withServer(answer, async (url, t) => {
      const e = await assertRejects(
        () => t.request({ method: "GET", url, headers: {}, timeoutMs: 30_000 }),
        TransportError,
      );
      assertStringIncludes(e.message, `answer larger than ${MAX_BODY} bytes`, what);
    });
    const sent = endless.sent();
    assert(
      what === "declared" || endless.stoppedEarly(),
      `${what}: ${sent} bytes sent before the refusal`,
    );
  }
});

Deno.test("FetchTransport gives up at its timeout on no answer and on a body that stalls", async () => {
  const never = () => new Promise<Response>(() => {});
  const stalled = () =>
    new Response(new ReadableStream<Uint8Array>({ start: (c) => c.enqueue(new Uint8Array(10)) }));
  for (const [what, answer] of [["no answer", never], ["stalled body", stalled]] as const) {
    await withServer(answer, async (url, t) => {
      const e = await within(
        5000,
        `the transport's own timeout (${what})`,
        assertRejects(
          () => t.request({ method: "GET", url, headers: {}, timeoutMs: 200 }),
          TransportError,
        ),
      );
      assertEquals(e.kind, "timeout", what);
      assertStringIncludes(e.message, "200 ms", what);
    });
  }
});
