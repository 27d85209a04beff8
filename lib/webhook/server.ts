/** The HTTPS endpoint the API server calls: Deno.listenTls (rustls) and the HTTP/1.1 framing
 * of http1.ts, one write per answer, TCP_NODELAY on the listener. The certificate is re-read
 * when its files change: a new listener with the new pair joins the port (SO_REUSEPORT) before
 * the old one closes, so there is no restart and open connections carry on. */
import type { Logger } from "../log/logger.ts";
import { type Peer, shutdownSockets } from "../sys/socket_shutdown.ts";
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

/** What one serving thread allows at once and how long each stage may take; every one is a
 * setting (settings.ts, the chart's webhook.limits) and docs/webhook.md says what a client
 * sees when it is hit. */
export interface Limits {
  /** Open connections; beyond it, the one that has waited on its client longest is closed. */
  maxConnections: number;
  /** Bytes of request bodies being read at once, of requests larger than HEAD_LIMIT in all
   * (smaller ones need no more than any connection may hold for its head); a request that
   * would pass it gets 503 with Retry-After before its body is read. */
  bodyBudget: number;
  /** From accept to the end of the TLS handshake. */
  handshakeTimeoutMs: number;
  /** From a request head's first byte to its blank line; not reset by each read. */
  headTimeoutMs: number;
  /** From the end of the head to the body's last byte, and again for writing the answer. */
  bodyTimeoutMs: number;
  /** A kept-alive connection without a request is closed after this long: longer than the Go
   * client's 90 s idle timeout, so the client closes first and never sends into a closing
   * socket. */
  idleTimeoutMs: number;
}

/** What a hostile or slow client ran into, for the metrics: a deadline (by its setting's name),
 * the connection cap, the body budget, or a failed accept. */
export const LIMIT_HITS = [
  "handshakeTimeout",
  "headTimeout",
  "bodyTimeout",
  "idleTimeout",
  "maxConnections",
  "bodyBudget",
  "acceptError",
] as const;
export type LimitHit = typeof LIMIT_HITS[number];

export const DEFAULT_LIMITS: Limits = {
  maxConnections: 1000,
  bodyBudget: 64 * 1024 * 1024,
  handshakeTimeoutMs: 5_000,
  headTimeoutMs: 10_000,
  bodyTimeoutMs: 30_000,
  idleTimeoutMs: 120_000,
};

export interface ServeOptions {
  hostname: string;
  port: number;
  certFile: string;
  keyFile: string;
  /** How often the certificate files are checked for changes. */
  reloadEveryMs?: number;
  /** Bodies above this are refused with 413 without being read. */
  bodyLimit: number;
  limits?: Partial<Limits>;
  /** Called each time a limit is hit (metrics.ts counts them). */
  onLimit?: (hit: LimitHit) => void;
  handler: Handler;
  logger: Logger;
}

export interface RunningServer {
  port: number;
  /** How many times the serving certificate was replaced. */
  reloads(): number;
  /** False while accepting fails (e.g. EMFILE) and the loop is backing off; /readyz says so. */
  accepting(): boolean;
  /** What the connections hold now: their count, the bytes of their read buffers, and the
   * body bytes counted against the budget. */
  load(): { connections: number; bufferBytes: number; bodyBytes: number };
  shutdown(): Promise<void>;
}

const utf8 = new TextDecoder();

/** Request line and headers above this get 431: a webhook request's head is a few hundred bytes. */
const HEAD_LIMIT = 64 * 1024;
/** Each connection's read buffer; it grows for a larger head or body and is given back after. */
const KEPT_BUFFER = 16 * 1024;
/** How long the rest of a refused request is read and thrown away before closing. */
const LINGER_MS = 2_000;
/** On shutdown, requests in progress get this long to finish. */
const DRAIN_MS = 10_000;
/** Accept failures (EMFILE, ENFILE, ENOBUFS) are retried after a pause that doubles up to this. */
const ACCEPT_BACKOFF_MAX_MS = 1_000;
/** Until another connection closes, EMFILE repeats at once; a short first pause lets one go. */
const ACCEPT_BACKOFF_MIN_MS = 10;
/** Seconds a client refused for the body budget is told to wait. */
const RETRY_AFTER_S = 1;

/** State shared by the connections of one server. */
interface Shared {
  o: ServeOptions;
  limits: Limits;
  /** Body bytes being read now that count against limits.bodyBudget. */
  bodyBytes: number;
  /** Peers of connections closed during their TLS handshake, whose sockets Deno keeps open
   * until the handshake ends: the next sweep shuts them down (socket_shutdown.ts). */
  hung: Peer[];
  hit: (h: LimitHit) => void;
}

/** Starts serving; resolves once listening. */
export async function serveHttps(o: ServeOptions): Promise<RunningServer> {
  let pair = await readPair(o);
  const shared: Shared = {
    o,
    limits: { ...DEFAULT_LIMITS, ...o.limits },
    bodyBytes: 0,
    hung: [],
    hit: o.onLimit ?? (() => {}),
  };
  const limits = shared.limits;
  const connections = new Set<Connection>();
  const accepting = new Set<Promise<void>>();
  /** Listeners closed on purpose (renewal, shutdown): their accept error ends their loop. */
  const retired = new WeakSet<Deno.TlsListener>();
  let failing = 0;
  let listener = listen(o, o.port, pair);
  const port = listener.addr.port;
  const admit = (conn: Deno.TlsConn) => {
    if (connections.size >= limits.maxConnections && evictOne(connections)) {
      shared.hit("maxConnections");
    }
    const c = new Connection(conn, shared);
    connections.add(c);
    c.serve().finally(() => connections.delete(c));
  };
  const acceptFrom = (l: Deno.TlsListener) => {
    const loop = (async () => {
      let pause = 0;
      for (;;) {
        let conn: Deno.TlsConn;
        try {
          conn = await l.accept();
        } catch (e) {
          if (retired.has(l) || e instanceof Deno.errors.BadResource) {
            // A listener retired while backing off no longer holds readiness down.
            if (pause > 0) failing--;
            return;
          }
          // EMFILE and the like pass once connections close: the loop must outlive them, or
          // the process stays up refusing every connection until the liveness probe fails.
          if (pause === 0) failing++;
          shared.hit("acceptError");
          pause = Math.min(ACCEPT_BACKOFF_MAX_MS, Math.max(ACCEPT_BACKOFF_MIN_MS, pause * 2));
          o.logger.error("accepting a connection failed; retrying", {
            error: (e as Error).message,
            retryInMs: pause,
          });
          await new Promise((r) => setTimeout(r, pause));
          continue;
        }
        if (pause > 0) {
          failing--;
          pause = 0;
          o.logger.info("accepting connections again");
        }
        admit(conn);
      }
    })();
    accepting.add(loop);
    loop.finally(() => accepting.delete(loop));
  };
  acceptFrom(listener);
  // One sweep a second instead of a timer per request: timers were a tenth of the CPU time.
  const sweeper = setInterval(() => {
    const now = Date.now();
    for (const c of connections) if (c.deadline < now) c.timedOut();
    endHandshakes();
  }, Math.min(1000, limits.handshakeTimeoutMs, limits.headTimeoutMs, limits.idleTimeoutMs));

  const endHandshakes = () => {
    if (shared.hung.length === 0) return;
    const peers = shared.hung.splice(0);
    try {
      shutdownSockets(port, peers);
    } catch (e) {
      // Reading /proc fails too when descriptors run out: the next sweep tries again (a
      // bounded list: a peer gone meanwhile matches nothing).
      if (shared.hung.length < 10_000) shared.hung.push(...peers.slice(0, 10_000));
      o.logger.warn("stalled TLS handshakes not ended", { error: (e as Error).message });
    }
  };

  let reloads = 0;
  const timer = setInterval(async () => {
    try {
      const next = await readPair(o);
      if (next.cert === pair.cert && next.key === pair.key) return;
      const fresh = listen(o, port, next);
      acceptFrom(fresh);
      retired.add(listener);
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
    accepting: () => failing === 0,
    load() {
      let bufferBytes = 0;
      for (const c of connections) bufferBytes += c.bufferBytes();
      return { connections: connections.size, bufferBytes, bodyBytes: shared.bodyBytes };
    },
    async shutdown() {
      clearInterval(timer);
      clearInterval(sweeper);
      retired.add(listener);
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
      endHandshakes();
    },
  };
}

/** At the connection cap: closes the connection that has waited on its client the longest
 * (in its handshake, idle, or sending its request). An attacker's stalled connections are
 * always the oldest waiting; a client in the middle of its answer is never closed. The scan
 * runs only at the cap. */
function evictOne(connections: Set<Connection>): boolean {
  let oldest: Connection | undefined;
  for (const c of connections) {
    if (!c.busy && !c.isClosed && (!oldest || c.waitingSince < oldest.waitingSince)) oldest = c;
  }
  oldest?.close();
  return oldest !== undefined;
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
  private buf = new Uint8Array(KEPT_BUFFER);
  private readonly out = new AnswerWriter();
  private len = 0;
  /** Running the handler or writing its answer: never evicted. */
  busy = false;
  private handshaking = true;
  private closing = false;
  private closed = false;
  /** Body bytes this connection holds against the budget. */
  private counted = 0;
  /** When the wait in progress has lasted too long (Date.now() ms); the server's sweep closes
   * the connection then. */
  deadline = Infinity;
  /** The limit whose deadline is set; undefined for the lingering close after a refusal,
   * whose cause was counted already. */
  private waitingFor: LimitHit | undefined;
  /** When the connection began waiting on its client (accept, idle, or a request's first
   * byte): the longest waiting is evicted at the connection cap. */
  waitingSince = Date.now();

  private readonly o: ServeOptions;
  private readonly limits: Limits;

  constructor(private conn: Deno.TlsConn, private shared: Shared) {
    this.o = shared.o;
    this.limits = shared.limits;
  }

  get isClosed() {
    return this.closed;
  }

  bufferBytes() {
    return this.buf.length;
  }

  serve(): Promise<void> {
    this.done = this.loop().catch((e) => {
      if (!this.closed) this.o.logger.debug("connection ended", { error: (e as Error).message });
    }).finally(() => {
      this.uncount();
      this.close();
    });
    return this.done;
  }

  /** Closes now if waiting for a request, else after the answer in progress. */
  closeWhenIdle() {
    this.closing = true;
    if (!this.busy) this.close();
  }

  /** The sweep found the deadline passed. */
  timedOut() {
    if (!this.closed && this.waitingFor) this.shared.hit(this.waitingFor);
    this.close();
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    if (this.handshaking) this.shared.hung.push(this.conn.remoteAddr as Deno.NetAddr);
    try {
      this.conn.close();
    } catch {
      // already closed by the peer
    }
  }

  private async loop() {
    this.waitAtMost(this.limits.handshakeTimeoutMs, "handshakeTimeout");
    try {
      await this.conn.handshake();
    } finally {
      // Done or failed on its own, the handshake no longer holds the socket; a close() before
      // this point has queued it for shutdown already.
      this.handshaking = false;
    }
    let scanned = 0;
    while (!this.closing) {
      this.waitingSince = Date.now();
      // Pipelined bytes already buffered start the next head now.
      if (this.len) this.waitAtMost(this.limits.headTimeoutMs, "headTimeout");
      else this.waitAtMost(this.limits.idleTimeoutMs, "idleTimeout");
      let end = headEnd(this.buf, scanned, this.len);
      while (end < 0) {
        if (this.len >= HEAD_LIMIT) {
          return await this.fail(new HttpError(431, "request head too large"));
        }
        scanned = Math.max(0, this.len - 3);
        const before = this.len;
        if (!await this.fill(this.len + 1, HEAD_LIMIT)) return;
        // The head's deadline counts from its first byte, whatever the pace of the rest.
        if (before === 0) this.waitAtMost(this.limits.headTimeoutMs, "headTimeout");
        end = headEnd(this.buf, scanned, this.len);
      }
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
      if (!this.count(end, head.contentLength)) {
        this.shared.hit("bodyBudget");
        return await this.fail(
          new HttpError(503, "too many request bodies in progress: retry later"),
          RETRY_AFTER_S,
        );
      }
      this.waitAtMost(this.limits.bodyTimeoutMs, "bodyTimeout");
      if (head.expectContinue && this.len === end) await this.write(CONTINUE);
      const total = end + head.contentLength;
      if (!await this.fill(total, total)) return;
      const body = utf8.decode(this.buf.subarray(end, total));
      this.buf.copyWithin(0, total, this.len);
      this.len -= total;
      this.shrink();
      this.uncount();
      scanned = 0;
      this.busy = true;
      this.deadline = Infinity;
      // Awaited only when the handler is asynchronous; see handleAdmission.
      let answer = this.answer({ method: head.method, path: head.path, body });
      if (answer instanceof Promise) answer = await answer;
      const keepAlive = head.keepAlive && !this.closing;
      this.waitAtMost(this.limits.bodyTimeoutMs, "bodyTimeout");
      await this.write(this.out.write(answer, keepAlive, head.method));
      this.busy = false;
      if (!keepAlive) return;
    }
  }

  /** Counts a body against the server's budget; false when it does not fit. A request that
   * fits in HEAD_LIMIT with its head is not counted: any connection may grow its buffer that
   * far for a head, so maxConnections bounds those already, and a stalled large body never
   * holds up an ordinary review (a few KiB). */
  private count(headLength: number, length: number): boolean {
    if (headLength + length <= HEAD_LIMIT) return true;
    if (this.shared.bodyBytes + length > this.limits.bodyBudget) return false;
    this.shared.bodyBytes += length;
    this.counted = length;
    return true;
  }

  private uncount() {
    this.shared.bodyBytes -= this.counted;
    this.counted = 0;
  }

  /** Gives back a buffer grown for a large request, keeping any pipelined bytes. */
  private shrink() {
    if (this.buf.length <= KEPT_BUFFER || this.len > KEPT_BUFFER) return;
    const kept = new Uint8Array(KEPT_BUFFER);
    kept.set(this.buf.subarray(0, this.len));
    this.buf = kept;
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

  /** Reads until the buffer holds `want` bytes, growing it to at most `most`; false if the
   * peer closed first. */
  private async fill(want: number, most: number): Promise<boolean> {
    if (want > this.buf.length) {
      const bigger = new Uint8Array(Math.min(most, Math.max(want, this.buf.length * 2)));
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
  private async fail(e: HttpError, retryAfterS?: number) {
    this.o.logger.debug("bad request", { status: e.status, error: e.message });
    this.busy = false;
    this.waitAtMost(LINGER_MS, undefined);
    await this.write(
      serializeAnswer(
        { status: e.status, contentType: "text/plain", body: `${e.message}\n`, retryAfterS },
        false,
      ),
    );
    // Lingering close: closing with unread bytes resets the connection, and a client still
    // sending its body (fetch does) would see "broken pipe" instead of this answer.
    await this.conn.closeWrite();
    this.waitAtMost(LINGER_MS, undefined);
    const sink = this.buf.length > KEPT_BUFFER ? this.buf.subarray(0, KEPT_BUFFER) : this.buf;
    while (await this.conn.read(sink) !== null) {
      // discarded
    }
  }

  /** Closes the connection if the current wait lasts longer than `ms`. */
  private waitAtMost(ms: number, limit: LimitHit | undefined) {
    this.deadline = Date.now() + ms;
    this.waitingFor = limit;
  }
}

async function readPair(o: ServeOptions): Promise<{ cert: string; key: string }> {
  const [cert, key] = await Promise.all([
    Deno.readTextFile(o.certFile),
    Deno.readTextFile(o.keyFile),
  ]);
  return { cert, key };
}
