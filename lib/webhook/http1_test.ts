import { assert, assertEquals, assertThrows } from "../../tests/harness/assert.ts";
import { AnswerWriter, headEnd, HttpError, parseHead, serializeAnswer } from "./http1.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("parseHead() reads the API server's request", () => {
  const head = bytes(
    "POST /mutate?timeout=10s HTTP/1.1\r\nHost: webhook.svc:443\r\nUser-Agent: kube-apiserver-admission\r\n" +
      "Content-Length: 1432\r\nAccept: application/json, */*\r\nContent-Type: application/json\r\n" +
      "Accept-Encoding: gzip\r\n\r\n",
  );
  assertEquals(parseHead(head), {
    method: "POST",
    path: "/mutate",
    contentLength: 1432,
    keepAlive: true,
    expectContinue: false,
  });
});

Deno.test("parseHead() follows HTTP/1.1 and 1.0 keep-alive rules and Expect", () => {
  const parse = (s: string) => parseHead(bytes(s + "\r\n\r\n"));
  assertEquals(parse("GET /healthz HTTP/1.1").keepAlive, true);
  assertEquals(parse("GET /healthz HTTP/1.1\r\nConnection: Close").keepAlive, false);
  assertEquals(parse("GET /healthz HTTP/1.1\r\nConnection: TE, close").keepAlive, false);
  assertEquals(parse("GET /healthz HTTP/1.0").keepAlive, false);
  assertEquals(parse("GET /healthz HTTP/1.0\r\nConnection: keep-alive").keepAlive, true);
  assertEquals(parse("GET /x HTTP/1.1").contentLength, 0);
  assertEquals(
    parse("POST /mutate HTTP/1.1\r\nContent-Length: 9\r\nExpect: 100-continue").expectContinue,
    true,
  );
  // Only SP and HTAB are trimmed around a value; HTAB inside one is allowed.
  assertEquals(parse("POST / HTTP/1.1\r\nContent-Length: \t5 \t").contentLength, 5);
  assertEquals(parse("GET / HTTP/1.1\r\nX-Tab: a\tb").keepAlive, true);
  // The same length twice is allowed (RFC 9112, 6.3).
  assertEquals(parse("POST / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 5").contentLength, 5);
});

Deno.test("parseHead() refuses malformed heads with the status to answer", () => {
  const cases: Array<[string, number, string]> = [
    ["GARBAGE", 400, "malformed request line"],
    ["GET /  HTTP/1.1", 400, "malformed request line"],
    ["G(T / HTTP/1.1", 400, "malformed request line"],
    ["GET / HTTP/2.0", 505, "unsupported version"],
    ["GET / HTTP/1.1\r\nno colon here", 400, "malformed header line"],
    ["GET / HTTP/1.1\r\n folded: value", 400, "malformed header line"],
    ["GET / HTTP/1.1\r\n: empty name", 400, "malformed header line"],
    ["GET / HTTP/1.1\r\nContent-Lengté: 5", 400, "malformed header line"],
    ["GET / HTTP/1.1\r\nHost: x\r\nConnection close", 400, "malformed header line"],
    ["POST / HTTP/1.1\r\nContent-Length: -1", 400, "invalid Content-Length"],
    ["POST / HTTP/1.1\r\nContent-Length: 12abc", 400, "invalid Content-Length"],
    ["POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2", 400, "invalid Content-Length"],
    ["POST / HTTP/1.1\r\nTransfer-Encoding: chunked", 411, "Transfer-Encoding is not supported"],
    // RFC 9110, 5.5: no CR, LF or NUL in a field value, and no other control but HTAB. A bare
    // LF must not start a header another parser would see (Transfer-Encoding here).
    ["POST / HTTP/1.1\r\nX: a\nTransfer-Encoding: chunked", 400, "invalid character 0x0A"],
    ["POST / HTTP/1.1\r\nX: a\rTransfer-Encoding: chunked", 400, "invalid character 0x0D"],
    ["GET / HTTP/1.1\r\nX: a\0b", 400, "invalid character 0x00"],
    ["POST / HTTP/1.1\r\nContent-Length: 5\x0b", 400, "invalid character 0x0B"],
    ["POST / HTTP/1.1\r\nContent-Length: \x0c5", 400, "invalid character 0x0C"],
    ["GET / HTTP/1.1\r\nX: \x7f", 400, "invalid character 0x7F"],
    ["GET / HTTP/1.1\r\nX: \x1b[31m", 400, "invalid character 0x1B"],
    ["GET /\0 HTTP/1.1", 400, "invalid character 0x00"],
    ["GET / HTTP/1.1\nX: y", 400, "invalid character 0x0A"],
  ];
  for (const [head, status, message] of cases) {
    const e = assertThrows(() => parseHead(bytes(head + "\r\n\r\n")), HttpError);
    assertEquals(
      [e.status, e.message.startsWith(message)],
      [status, true],
      `${head}: ${e.message}`,
    );
  }
});

Deno.test("parseHead() reads bytes that are not UTF-8 without taking them for CR, LF or ':'", () => {
  const head = (...parts: Array<string | number[]>) =>
    new Uint8Array(parts.flatMap((p) => typeof p === "string" ? [...bytes(p)] : p));
  // obs-text (0x80-0xFF) in a value the server does not read is allowed.
  const ok = parseHead(
    head("GET /x HTTP/1.1\r\nX-Note: ", [0xe9, 0xff], "\r\nContent-Length: 3\r\n\r\n"),
  );
  assertEquals([ok.path, ok.contentLength], ["/x", 3]);
  // In a name it is not a token character.
  const e = assertThrows(
    () => parseHead(head("GET / HTTP/1.1\r\nX", [0xe9], ": 1\r\n\r\n")),
    HttpError,
  );
  assertEquals([e.status, e.message], [400, "malformed header line"]);
});

Deno.test("headEnd() finds the blank line, also when it arrives split across reads", () => {
  const b = bytes("GET / HTTP/1.1\r\nHost: x\r\n\r\nNEXT");
  assertEquals(headEnd(b, 0, b.length), b.length - 4);
  assertEquals(headEnd(b, 0, b.length - 6), -1, "cut inside the blank line");
  // Resuming from where the last search stopped still sees a terminator straddling reads.
  assertEquals(headEnd(b, b.length - 9, b.length), b.length - 4);
});

Deno.test("serializeAnswer() writes status, type, length and body in one buffer", () => {
  const text = new TextDecoder().decode(
    serializeAnswer({ status: 200, contentType: "application/json", body: '{"é":1}' }, true),
  );
  assertEquals(
    text,
    'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 8\r\n\r\n{"é":1}',
  );
  const closing = new TextDecoder().decode(
    serializeAnswer({ status: 413, contentType: "text/plain", body: "too big\n" }, false),
  );
  assertEquals(closing.split("\r\n\r\n")[0]!.split("\r\n"), [
    "HTTP/1.1 413 Content Too Large",
    "content-type: text/plain",
    "content-length: 8",
    "connection: close",
  ]);
  const head = new TextDecoder().decode(
    serializeAnswer({ status: 200, contentType: "text/plain", body: "ok\n" }, true, "HEAD"),
  );
  assertEquals(head, "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 3\r\n\r\n");
});

Deno.test("AnswerWriter reuses one buffer for answers of any size, bytes or text", () => {
  const w = new AnswerWriter();
  const text = (a: Uint8Array) => new TextDecoder().decode(a);
  const small = w.write({ status: 200, contentType: "text/plain", body: "hi" }, true);
  const long = "é".repeat(20_000); // 40,000 bytes: the kept buffer grows to hold it
  const first = w.write({ status: 200, contentType: "text/plain", body: long }, true);
  assertEquals(text(first).split("\r\n\r\n")[1], long);
  assert(first.buffer !== small.buffer, "grown");
  const second = w.write({ status: 200, contentType: "text/plain", body: "ok" }, true);
  assertEquals(second.buffer, first.buffer, "the same buffer again");
  assertEquals(
    text(second),
    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok",
  );
  const huge = new Uint8Array(200_000).fill(65);
  const big = w.write({ status: 200, contentType: "application/octet-stream", body: huge }, true);
  assertEquals(big.length - big.indexOf(65), 200_000, "a large answer has its own buffer");
  assert(big.buffer !== first.buffer, "not the kept one");
  const after = w.write({ status: 404, contentType: "text/plain", body: "no" }, false);
  assertEquals(
    text(after),
    "HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\ncontent-length: 2\r\nconnection: close\r\n\r\nno",
    "and the kept one still serves",
  );
  assertEquals(after.buffer, first.buffer, "the large answer did not replace it");
});
