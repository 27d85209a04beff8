/** The slice of HTTP/1.1 (RFC 9112) the webhook needs: requests with a Content-Length body,
 * keep-alive, `Expect: 100-continue`, and answers written as one buffer. Pure functions over
 * bytes, so every malformed input is tested without a socket. It exists for what Deno.serve
 * does not let a server set (head and body limits, idle and request timeouts, a lingering
 * close), and because node:https costs twice the CPU per request (docs/webhook.md). */

export interface RequestHead {
  method: string;
  /** The path without the query: the API server calls `/mutate?timeout=10s`. */
  path: string;
  contentLength: number;
  /** Whether the client wants the connection kept after the answer. */
  keepAlive: boolean;
  expectContinue: boolean;
}

/** A request the server answers with `status` and then closes the connection. */
export class HttpError extends Error {
  override name = "HttpError";
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const CR = 13;
const LF = 10;

/** Index just past the blank line ending the head, searching buf[from, end); -1 if absent. */
export function headEnd(buf: Uint8Array, from: number, end: number): number {
  for (let i = Math.max(from, 3); i < end; i++) {
    if (buf[i] === LF && buf[i - 1] === CR && buf[i - 2] === LF && buf[i - 3] === CR) {
      return i + 1;
    }
  }
  return -1;
}

/** UTF-8, the decoder with Deno's fast path (Latin-1 took three times as long): a byte above
 * 0x7F is invalid in every part of the head the server reads, and becomes U+FFFD, which
 * matches nothing, while CR and LF stay where they are. */
const decoder = new TextDecoder();
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** tchar (RFC 9110, 5.6.2) by character code, to check a header name where it stands: the
 * head is parsed for every request, and cutting each line out was most of its cost. */
const TCHAR = new Uint8Array(128).map((_, c) => TOKEN.test(String.fromCharCode(c)) ? 1 : 0);
const COLON = 58;
/** What RFC 9110 (5.5) keeps out of a field value, and RFC 9112 out of a request line: CR and
 * LF other than as the CRLF ending a line, NUL, and every other control but HTAB (VT and FF
 * too, which a trim would have removed silently). One scan of the whole head. */
// deno-lint-ignore no-control-regex
const FORBIDDEN = /[\x00-\x08\x0B\x0C\x0E-\x1F\x7F]|\r(?!\n)|(?<!\r)\n/;
/** Optional whitespace around a field value (RFC 9110, 5.6.3): SP and HTAB, nothing else. */
const OWS = /^[ \t]+|[ \t]+$/g;
/** The headers the server acts on, by length: only those names are lower-cased and compared. */
const WANTED = new Set(["content-length", "transfer-encoding", "connection", "expect"]);
const WANTED_LENGTHS = new Set([...WANTED].map((n) => n.length));

/** Parses a request line and headers (the bytes up to and including the blank line). */
export function parseHead(head: Uint8Array): RequestHead {
  const text = decoder.decode(head);
  const bad = FORBIDDEN.exec(text);
  if (bad) {
    const code = bad[0].charCodeAt(0).toString(16).toUpperCase().padStart(2, "0");
    throw new HttpError(400, `invalid character 0x${code} in the request head`);
  }
  let eol = text.indexOf("\r\n");
  const [method, target, version, extra] = text.slice(0, eol).split(" ");
  if (extra !== undefined || !method || !target || !version || !TOKEN.test(method)) {
    throw new HttpError(400, "malformed request line");
  }
  if (version !== "HTTP/1.1" && version !== "HTTP/1.0") {
    throw new HttpError(505, `unsupported version ${JSON.stringify(version.slice(0, 16))}`);
  }
  let contentLength: number | undefined;
  let connection = "";
  let expect = "";
  // Each header line starts after the CRLF ending the line before; the blank line ends them.
  for (let start = eol + 2; start < text.length - 2; start = eol + 2) {
    eol = text.indexOf("\r\n", start);
    let colon = start;
    for (let c = text.charCodeAt(colon); c !== COLON; c = text.charCodeAt(++colon)) {
      if (colon === eol || !TCHAR[c]) throw new HttpError(400, "malformed header line");
    }
    if (colon === start) throw new HttpError(400, "malformed header line");
    if (!WANTED_LENGTHS.has(colon - start)) continue;
    const name = text.slice(start, colon).toLowerCase();
    if (!WANTED.has(name)) continue;
    const value = text.slice(colon + 1, eol).replace(OWS, "");
    if (name === "content-length") {
      if (!/^\d{1,15}$/.test(value) || (contentLength ?? Number(value)) !== Number(value)) {
        throw new HttpError(400, "invalid Content-Length");
      }
      contentLength = Number(value);
    } else if (name === "transfer-encoding") {
      // Every client of a webhook sends a length; refusing chunked bodies keeps one framing.
      throw new HttpError(411, "Transfer-Encoding is not supported: send Content-Length");
    } else if (name === "connection") connection += `,${value.toLowerCase()}`;
    else expect = value.toLowerCase();
  }
  const tokens = connection.split(",").map((t) => t.trim());
  const query = target.indexOf("?");
  return {
    method,
    path: query < 0 ? target : target.slice(0, query),
    contentLength: contentLength ?? 0,
    keepAlive: version === "HTTP/1.1" ? !tokens.includes("close") : tokens.includes("keep-alive"),
    expectContinue: expect === "100-continue",
  };
}

export interface Answer {
  status: number;
  contentType: string;
  body: string | Uint8Array;
  /** Sent as Retry-After (seconds), with 503. */
  retryAfterS?: number | undefined;
}

const REASONS: Record<number, string> = {
  100: "Continue",
  200: "OK",
  400: "Bad Request",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  411: "Length Required",
  413: "Content Too Large",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  503: "Service Unavailable",
  505: "HTTP Version Not Supported",
};

const utf8 = new TextEncoder();

/** Status line, headers and body in one buffer, so they leave in one write. An answer to HEAD
 * has the headers of the GET answer and no body (RFC 9110, 9.3.2): a body there would be
 * read as the start of the next answer on a kept-alive connection. */
export function serializeAnswer(a: Answer, keepAlive: boolean, method = "GET"): Uint8Array {
  return new AnswerWriter().write(a, keepAlive, method).slice();
}

/** serializeAnswer() into a buffer kept for the next answer: a connection answers one request
 * at a time, and every new ArrayBuffer counts as external memory, which makes V8 run full
 * collections, each one pausing all the requests in flight (docs/benchmarks.md). */
export class AnswerWriter {
  #buf = new Uint8Array(4 * 1024);

  /** The bytes of the answer; valid until the next call. */
  write(a: Answer, keepAlive: boolean, method = "GET"): Uint8Array {
    // The body goes first, after room for the head, whose content-length needs its size.
    const most = typeof a.body === "string" ? a.body.length * 3 : a.body.length;
    // The kept buffer grows up to KEPT; a larger answer gets a buffer of its own.
    const need = HEAD_ROOM + most;
    if (need > this.#buf.length && need <= KEPT) this.#buf = new Uint8Array(KEPT);
    const buf = need <= this.#buf.length ? this.#buf : new Uint8Array(need);
    const size = typeof a.body === "string"
      ? utf8.encodeInto(a.body, buf.subarray(HEAD_ROOM)).written
      : (buf.set(a.body, HEAD_ROOM), a.body.length);
    const head = `HTTP/1.1 ${a.status} ${REASONS[a.status] ?? "Unknown"}\r\n` +
      `content-type: ${a.contentType}\r\n` +
      `content-length: ${size}\r\n` +
      (a.retryAfterS === undefined ? "" : `retry-after: ${a.retryAfterS}\r\n`) +
      (keepAlive ? "" : "connection: close\r\n") +
      "\r\n";
    if (head.length > HEAD_ROOM) throw new TypeError(`answer head too long: ${head.length}`);
    utf8.encodeInto(head, buf.subarray(HEAD_ROOM - head.length, HEAD_ROOM)); // ASCII
    return buf.subarray(HEAD_ROOM - head.length, HEAD_ROOM + (method === "HEAD" ? 0 : size));
  }
}

/** Room for the status line and headers: all are ASCII and short. */
const HEAD_ROOM = 256;
/** Answers up to this size reuse the connection's buffer (an admission answer is a few KiB;
 * it starts at 4 KiB, so a connection that only checks health keeps little). */
const KEPT = 64 * 1024;

export const CONTINUE = utf8.encode("HTTP/1.1 100 Continue\r\n\r\n");
