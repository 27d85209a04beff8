/** The HTTPS endpoint the API server calls: Deno.listenTls (rustls) and the HTTP/1.1 framing
 * of http1.ts, one write per answer, TCP_NODELAY on the listener. The certificate is re-read
 * when its files change: a new listener with the new pair joins the port (SO_REUSEPORT) before
 * the old one closes, so there is no restart and open connections carry on. */
import type { Logger } from "../log/logger.ts";
import { setNoDelayOnListeners } from "../sys/tcp_nodelay.ts";
import {
  type Answer,
  AnswerWriter,
  CONTINUE,
  headEnd,
  HttpError,
  parseHead,
  serializeAnswer,
} from "./http1.ts";

export interface HttpRequest {
  method: string;
  path: string;
  /** Decoded as UTF-8 (invalid bytes become U+FFFD): a string costs V8 no external memory,
   * unlike a copy of the bytes (AnswerWriter says why that matters). */
  body: string;
}

export type Handler = (req: HttpRequest) => Answer | Promise<Answer>;

export interface ServeOptions {
  hostname: string;
  port: number;
  certFile: string;
  keyFile: string;
  /** How often the certificate files are checked for changes. */
  reloadEveryMs?: number;
  /** Bodies above this are refused with 413 without being read. */
  bodyLimit: number;
  /** A kept-alive connection without a request is closed after this long; 120 s by default,
   * longer than the Go client's 90 s idle timeout, so the client closes first and never sends
   * into a closing socket. */
  idleTimeoutMs?: number;
  /** From a request's first byte to its last, and for writing the answer; 30 s by default,
   * the most the API server gives a webhook. */
  requestTimeoutMs?: number;
  handler: Handler;
  logger: Logger;
}

export interface RunningServer {
  port: number;
  /** How many times the serving certificate was replaced. */
  reloads(): number;
  shutdown(): Promise<void>;
}

const utf8 = new TextDecoder();

/** Request line and headers above this get 431: a webhook request's head is a few hundred bytes. */
const HEAD_LIMIT = 64 * 1024;
/** How long the rest of a refused request is read and thrown away before closing. */
const LINGER_MS = 2_000;
/** On shutdown, requests in progress get this long to finish. */
const DRAIN_MS = 10_000;

/** Starts serving; resolves once listening. */
export async function serveHttps(o: ServeOptions): Promise<RunningServer> {
  let pair = await readPair(o);
  const connections = new Set<Connection>();
  const accepting = new Set<Promise<void>>();
  let listener = listen(o, o.port, pair);
  const port = listener.addr.port;
  const acceptFrom = (l: Deno.TlsListener) => {
    const loop = (async () => {
      try {
        for await (const conn of l) {
          const c = new Connection(conn, o);
          connections.add(c);
          c.serve().finally(() => connections.delete(c));
        }
      } catch (e) {
        if (!(e instanceof Deno.errors.BadResource)) {
          o.logger.error("listener failed", { error: (e as Error).message });
        }
      }
    })();
    accepting.add(loop);
    loop.finally(() => accepting.delete(loop));
  };
  acceptFrom(listener);
  // One sweep a second instead of a timer per request: timers were a tenth of the CPU time.
  const sweeper = setInterval(() => {
    const now = Date.now();
    for (const c of connections) if (c.deadline < now) c.close();
  }, Math.min(1000, o.idleTimeoutMs ?? 1000, o.requestTimeoutMs ?? 1000));

  let reloads = 0;
  const timer = setInterval(async () => {
    try {
      const next = await readPair(o);
      if (next.cert === pair.cert && next.key === pair.key) return;
      const fresh = listen(o, port, next);
      acceptFrom(fresh);
      listener.close();
      listener = fresh;
      pair = next;
      reloads++;
      o.logger.info("serving certificate reloaded", { file: o.certFile });
    } catch (e) {
      // A half-written pair (certificate updated, key not yet) fails to load: keep the old one.
      o.logger.warn("serving certificate not reloaded", {
        file: o.certFile,
        error: (e as Error).message,
      });
    }
  }, o.reloadEveryMs ?? 10_000);

  return {
    port,
    reloads: () => reloads,
    async shutdown() {
      clearInterval(timer);
      clearInterval(sweeper);
      listener.close();
      await Promise.all(accepting);
      for (const c of connections) c.closeWhenIdle();
      const drained = Promise.all([...connections].map((c) => c.done));
      let force: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        drained,
        new Promise((r) => force = setTimeout(r, DRAIN_MS)),
      ]);
      clearTimeout(force);
      for (const c of connections) c.close();
    },
  };
}

function listen(o: ServeOptions, port: number, pair: { cert: string; key: string }) {
  const l = Deno.listenTls({
    hostname: o.hostname,
    port,
    ...pair,
    alpnProtocols: ["http/1.1"],
    reusePort: true,
  });
  try {
    setNoDelayOnListeners(l.addr.port);
  } catch (e) {
    o.logger.warn("TCP_NODELAY not set: a new connection's first answer may wait 40 ms", {
      error: (e as Error).message,
    });
  }
  return l;
}

/** One client connection: requests are read and answered in turn. */
class Connection {
  done: Promise<void> = Promise.resolve();
  private buf = new Uint8Array(16 * 1024);
  private readonly out = new AnswerWriter();
  private len = 0;
  private busy = false;
  private closing = false;
  private closed = false;
  /** When the wait in progress has lasted too long (Date.now() ms); the server's sweep closes
   * the connection then. */
  deadline = Infinity;

  private readonly idleMs: number;
  private readonly requestMs: number;

  constructor(private conn: Deno.TlsConn, private o: ServeOptions) {
    this.idleMs = o.idleTimeoutMs ?? 120_000;
    this.requestMs = o.requestTimeoutMs ?? 30_000;
  }

  serve(): Promise<void> {
    this.done = this.loop().catch((e) => {
      if (!this.closed) this.o.logger.debug("connection ended", { error: (e as Error).message });
    }).finally(() => this.close());
    return this.done;
  }

  /** Closes now if waiting for a request, else after the answer in progress. */
  closeWhenIdle() {
    this.closing = true;
    if (!this.busy) this.close();
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    try {
      this.conn.close();
    } catch {
      // already closed by the peer
    }
  }

  private async loop() {
    let scanned = 0;
    while (!this.closing) {
      this.waitAtMost(this.len ? this.requestMs : this.idleMs);
      let end = headEnd(this.buf, scanned, this.len);
      while (end < 0) {
        if (this.len >= HEAD_LIMIT) {
          return await this.fail(new HttpError(431, "request head too large"));
        }
        scanned = Math.max(0, this.len - 3);
        if (!await this.fill(this.len + 1)) return;
        this.busy = true;
        this.waitAtMost(this.requestMs);
        end = headEnd(this.buf, scanned, this.len);
      }
      this.busy = true;
      let head;
      try {
        head = parseHead(this.buf.subarray(0, end));
      } catch (e) {
        if (e instanceof HttpError) return await this.fail(e);
        throw e;
      }
      if (head.contentLength > this.o.bodyLimit) {
        return await this.fail(
          new HttpError(413, `request body larger than ${this.o.bodyLimit} bytes`),
        );
      }
      if (head.expectContinue && this.len === end) await this.write(CONTINUE);
      const total = end + head.contentLength;
      if (!await this.fill(total)) return;
      const body = utf8.decode(this.buf.subarray(end, total));
      this.buf.copyWithin(0, total, this.len);
      this.len -= total;
      scanned = 0;
      this.deadline = Infinity;
      // Awaited only when the handler is asynchronous; see handleAdmission.
      let answer = this.answer({ method: head.method, path: head.path, body });
      if (answer instanceof Promise) answer = await answer;
      const keepAlive = head.keepAlive && !this.closing;
      this.waitAtMost(this.requestMs);
      await this.write(this.out.write(answer, keepAlive, head.method));
      this.busy = false;
      if (!keepAlive) return;
    }
  }

  private answer(req: HttpRequest): Answer | Promise<Answer> {
    const failed = (e: unknown): Answer => {
      this.o.logger.error("request failed", { path: req.path, error: (e as Error).message });
      return { status: 500, contentType: "text/plain", body: "internal error\n" };
    };
    try {
      const answer = this.o.handler(req);
      return answer instanceof Promise ? answer.catch(failed) : answer;
    } catch (e) {
      return failed(e);
    }
  }

  /** Reads until the buffer holds `want` bytes; false if the peer closed first. */
  private async fill(want: number): Promise<boolean> {
    if (want > this.buf.length) {
      const bigger = new Uint8Array(Math.max(want, this.buf.length * 2));
      bigger.set(this.buf.subarray(0, this.len));
      this.buf = bigger;
    }
    while (this.len < want) {
      const n = await this.conn.read(this.buf.subarray(this.len));
      if (n === null) return false;
      this.len += n;
    }
    return true;
  }

  private async write(bytes: Uint8Array) {
    for (let off = 0; off < bytes.length;) off += await this.conn.write(bytes.subarray(off));
  }

  /** Answers a request that cannot be served and ends the connection. */
  private async fail(e: HttpError) {
    this.o.logger.debug("bad request", { status: e.status, error: e.message });
    await this.write(
      serializeAnswer(
        { status: e.status, contentType: "text/plain", body: `${e.message}\n` },
        false,
      ),
    );
    // Lingering close: closing with unread bytes resets the connection, and a client still
    // sending its body (fetch does) would see "broken pipe" instead of this answer.
    await this.conn.closeWrite();
    this.waitAtMost(LINGER_MS);
    const sink = new Uint8Array(64 * 1024);
    while (await this.conn.read(sink) !== null) {
      // discarded
    }
  }

  /** Closes the connection if the current wait lasts longer than `ms`. */
  private waitAtMost(ms: number) {
    this.deadline = Date.now() + ms;
  }
}

async function readPair(o: ServeOptions): Promise<{ cert: string; key: string }> {
  const [cert, key] = await Promise.all([
    Deno.readTextFile(o.certFile),
    Deno.readTextFile(o.keyFile),
  ]);
  return { cert, key };
}
