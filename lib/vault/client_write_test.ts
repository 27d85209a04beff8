/** StoreClient.write(): one request, tried again only when it certainly never left. The
 * connection failures are real sockets on 127.0.0.1, not made-up errors. */
import { assertEquals, assertRejects, assertStringIncludes } from "../../tests/harness/assert.ts";
import { StoreClient } from "./client.ts";
import { StoreError } from "./errors.ts";
import { parseStoreAddress } from "../config/store_address.ts";
import { parseStorePath } from "../config/store_path.ts";
import { FetchTransport } from "../http/fetch_transport.ts";
import { type HttpRequest, type HttpResult, TransportError } from "../http/transport.ts";

const ISSUE = parseStorePath("pki/issue/app");

/** A client whose transport plays `answers` in turn, recording each request. */
function client(answers: Array<HttpResult | TransportError>) {
  const sent: HttpRequest[] = [];
  const c = new StoreClient({
    address: parseStoreAddress("https://store:8200", { allowInsecureHttp: false }),
    backoffMs: 1,
    retries: 2,
    transport: {
      request(req) {
        sent.push(req);
        const a = answers.shift() ?? { status: 500, body: "{}" };
        return a instanceof TransportError ? Promise.reject(a) : Promise.resolve(a);
      },
      close() {},
    },
  });
  return { c, sent };
}

const issued = {
  status: 200,
  body: JSON.stringify({ data: { certificate: "C", private_key: "K" } }),
};

Deno.test("write() POSTs the body and returns the answer's data", async () => {
  const { c, sent } = client([issued]);
  const s = await c.write(ISSUE, '{"common_name":"a.example.com"}');
  assertEquals(s.data, { certificate: "C", private_key: "K" });
  assertEquals(sent.map((r) => [r.method, r.url.href, r.body]), [
    ["POST", "https://store:8200/v1/pki/issue/app", '{"common_name":"a.example.com"}'],
  ]);
});

Deno.test("write() is not repeated after a 5xx, a timeout or a connection lost after sending", async () => {
  const failures = [
    { status: 502, body: '{"errors":["bad gateway"]}' },
    { status: 503, body: "" },
    new TransportError("timeout", "no answer within 10000 ms"),
    new TransportError("unreachable", "connection reset"),
  ];
  for (const failure of failures) {
    const { c, sent } = client([failure, issued]);
    const e = await assertRejects(() => c.write(ISSUE, "{}"), StoreError);
    assertStringIncludes(e.message, "Cannot write pki/issue/app from https://store:8200");
    assertEquals(sent.length, 1, e.message);
  }
});

Deno.test("write() is tried again, within the retry bound, only when the connection was never made", async () => {
  const refused = () => new TransportError("unreachable", "refused", undefined, true);
  const ok = client([refused(), issued]);
  assertEquals((await ok.c.write(ISSUE, "{}")).data.certificate, "C");
  assertEquals(ok.sent.length, 2);
  const never = client([refused(), refused(), refused(), refused()]);
  const e = await assertRejects(() => never.c.write(ISSUE, "{}"), StoreError);
  assertEquals(e.kind, "unreachable");
  assertEquals(never.sent.length, 3, "the first try and two retries");
});

Deno.test("write() refuses an answer without data", async () => {
  const { c } = client([{ status: 204, body: "" }]);
  const e = await assertRejects(() => c.write(ISSUE, "{}"), StoreError);
  assertStringIncludes(e.message, "answer has no data object");
});

Deno.test("a refused connection is classified as never sent; a connection cut after the request is not", async () => {
  const transport = new FetchTransport();
  try {
    // A port that was just free: nothing listens there.
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const closedPort = (l.addr as Deno.NetAddr).port;
    l.close();
    const req = (port: number): HttpRequest => ({
      method: "POST",
      url: new URL(`http://127.0.0.1:${port}/v1/pki/issue/app`),
      headers: {},
      body: "{}",
      timeoutMs: 5_000,
    });
    const refused = await assertRejects(() => transport.request(req(closedPort)), TransportError);
    assertEquals(refused.notSent, true, refused.message);

    // A server that reads the request, then closes without answering: the store may have
    // applied it.
    const server = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const served = (async () => {
      const conn = await server.accept();
      await conn.read(new Uint8Array(4096));
      conn.close();
    })();
    const cut = await assertRejects(
      () => transport.request(req((server.addr as Deno.NetAddr).port)),
      TransportError,
    );
    assertEquals(cut.notSent, false, cut.message);
    await served;
    server.close();
  } finally {
    transport.close();
  }
});
