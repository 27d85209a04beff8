/** The HTTPS server on a real TLS socket, driven byte by byte as a client would: keep-alive,
 * bad requests, oversized bodies, certificate renewal and shutdown. */
import { assert, assertEquals, assertStringIncludes } from "../../tests/harness/assert.ts";
import { type Ca, makeCa, makeLeaf } from "../../tests/harness/pki.ts";
import { certSerial, servedSerial } from "../../tests/harness/webhook.ts";
import {
  type Hostile,
  type HostileKind,
  type HostileOptions,
  openMany,
} from "../../tests/harness/hostile.ts";
import { waitUntil } from "../../tests/harness/process.ts";
import { within } from "../../tests/harness/within.ts";
import { silentLogger } from "../log/logger.ts";
import {
  type Handler,
  type LimitHit,
  type Limits,
  type RunningServer,
  serveHttps,
} from "./server.ts";

interface Setup {
  ca: Ca;
  dir: string;
  server: RunningServer;
  certFile: string;
  keyFile: string;
  seen: Array<{ method: string; path: string; body: string }>;
  /** How often each limit was hit (ServeOptions.onLimit). */
  hits: Partial<Record<LimitHit, number>>;
}

async function start(handler?: Handler, limits: Partial<Limits> = {}): Promise<Setup> {
  const dir = await Deno.makeTempDir({ prefix: "webhook-server-" });
  const ca = await makeCa(dir, "ca");
  const leaf = await makeLeaf(dir, "leaf", ca, ["IP:127.0.0.1"]);
  const seen: Setup["seen"] = [];
  const hits: Setup["hits"] = {};
  const server = await serveHttps({
    hostname: "127.0.0.1",
    port: 0,
    certFile: leaf.certFile,
    keyFile: leaf.keyFile,
    reloadEveryMs: 100,
    bodyLimit: 1024 * 1024,
    logger: silentLogger,
    handler: handler ?? ((req) => {
      const body = req.body;
      seen.push({ method: req.method, path: req.path, body });
      return { status: 200, contentType: "text/plain", body: `${req.path}:${body.length}` };
    }),
    limits,
    onLimit: (h) => hits[h] = (hits[h] ?? 0) + 1,
  });
  return { ca, dir, server, seen, hits, ...leaf };
}

async function stop(s: Setup) {
  await s.server.shutdown();
  await Deno.remove(s.dir, { recursive: true });
}

/** A raw TLS connection that reads answers as they are framed on the wire. */
class Client {
  private buf = new Uint8Array(0);
  private constructor(readonly conn: Deno.TlsConn) {}

  static async open(s: Setup): Promise<Client> {
    const conn = await within(
      Client.WAIT_MS,
      "a TLS connection",
      Deno.connectTls({
        hostname: "127.0.0.1",
        port: s.server.port,
        caCerts: [s.ca.cert],
      }),
    );
    return new Client(conn);
  }

  /** Each wait of this client fails after this long naming what it waited for, so no test
   * of this file hangs on a server that never answers or never closes. */
  static readonly WAIT_MS = 15_000;

  send(text: string | Uint8Array): Promise<void> {
    const bytes = typeof text === "string" ? new TextEncoder().encode(text) : text;
    return within(
      Client.WAIT_MS,
      "the server to take a request",
      (async () => {
        for (let off = 0; off < bytes.length;) off += await this.conn.write(bytes.subarray(off));
      })(),
    );
  }

  /** The next answer: status, headers (lower-case names) and body; null at end of stream.
   * `bodyLength` overrides Content-Length, for answers to HEAD. */
  answer(bodyLength?: number): Promise<
    { status: number; headers: Record<string, string>; body: string } | null
  > {
    return within(Client.WAIT_MS, "an answer from the server", this.readAnswer(bodyLength));
  }

  private async readAnswer(bodyLength?: number): Promise<
    { status: number; headers: Record<string, string>; body: string } | null
  > {
    let end: number;
    while ((end = this.find()) < 0) if (!await this.more()) return null;
    const head = new TextDecoder().decode(this.buf.subarray(0, end)).split("\r\n");
    const headers = Object.fromEntries(
      head.slice(1).map((l) => {
        const i = l.indexOf(":");
        return [l.slice(0, i).toLowerCase(), l.slice(i + 1).trim()];
      }),
    );
    const length = bodyLength ?? Number(headers["content-length"] ?? 0);
    while (this.buf.length < end + 4 + length) if (!await this.more()) return null;
    const body = new TextDecoder().decode(this.buf.subarray(end + 4, end + 4 + length));
    this.buf = this.buf.slice(end + 4 + length);
    return { status: Number(head[0]!.split(" ")[1]), headers, body };
  }

  /** True when the server has closed the connection (reads to the end). */
  closedByServer(): Promise<boolean> {
    return within(
      Client.WAIT_MS,
      "the server to close the connection",
      (async () => {
        try {
          while (await this.more());
          return true;
        } catch {
          return true; // reset: closed as well
        }
      })(),
    );
  }

  close() {
    try {
      this.conn.close();
    } catch {
      // closed by the server already
    }
  }

  private find(): number {
    for (let i = 3; i < this.buf.length; i++) {
      if (
        this.buf[i - 3] === 13 && this.buf[i - 2] === 10 && this.buf[i - 1] === 13 &&
        this.buf[i] === 10
      ) return i - 3;
    }
    return -1;
  }

  private async more(): Promise<boolean> {
    const chunk = new Uint8Array(64 * 1024);
    const n = await this.conn.read(chunk);
    if (n === null) return false;
    const joined = new Uint8Array(this.buf.length + n);
    joined.set(this.buf);
    joined.set(chunk.subarray(0, n), this.buf.length);
    this.buf = joined;
    return true;
  }
}

/** Runs `fn` with a server and one client connection, then closes both. */
async function withConnection(
  fn: (c: Client, s: Setup) => Promise<void>,
  handler?: Handler,
): Promise<void> {
  const s = await start(handler);
  const c = await Client.open(s);
  try {
    await fn(c, s);
  } finally {
    c.close();
    await stop(s);
  }
}

const post = (path: string, body: string, extra = "") =>
  `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${
    new TextEncoder().encode(body).length
  }\r\n${extra}\r\n${body}`;

Deno.test("one kept-alive connection carries request after request; the query is not the path", async () => {
  await withConnection(async (c, s) => {
    await c.send(post("/mutate?timeout=10s", "first"));
    assertEquals((await c.answer())?.body, "/mutate:5");
    await c.send(post("/mutate", "second"));
    const a = await c.answer();
    assertEquals([a?.status, a?.body, a?.headers.connection], [200, "/mutate:6", undefined]);
    assertEquals(s.seen.map((r) => r.body), ["first", "second"]);
  });
});

Deno.test("an answer to HEAD has the GET answer's length and no body; the next answer follows", async () => {
  await withConnection(async (c) => {
    await c.send("HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    const head = await c.answer(0);
    assertEquals([head?.status, head?.headers["content-length"], head?.body], [200, "10", ""]);
    await c.send(post("/after", "x"));
    assertEquals((await c.answer())?.body, "/after:1");
  });
});

Deno.test("pipelined requests sent in one write are answered in order", async () => {
  await withConnection(async (c) => {
    await c.send(post("/a", "1") + post("/b", "22") + "GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
    const bodies = [(await c.answer())?.body, (await c.answer())?.body, (await c.answer())?.body];
    assertEquals(bodies, ["/a:1", "/b:2", "/c:0"]);
  });
});

Deno.test("a request arriving a byte at a time is read whole", async () => {
  await withConnection(async (c, s) => {
    for (const byte of new TextEncoder().encode(post("/mutate", '{"a":1}'))) {
      await c.send(new Uint8Array([byte]));
    }
    assertEquals((await c.answer())?.body, "/mutate:7");
    assertEquals(s.seen[0]?.body, '{"a":1}');
  });
});

Deno.test("bad requests get their status, the connection closes, the server keeps serving", async () => {
  const s = await start();
  const cases: Array<[string, number, string]> = [
    ["NONSENSE\r\n\r\n", 400, "malformed request line"],
    ["GET / HTTP/1.1\r\nbad header\r\n\r\n", 400, "malformed header line"],
    ["POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 411, ""],
    [`GET / HTTP/1.1\r\nX: ${"a".repeat(70 * 1024)}\r\n\r\n`, 431, "request head too large"],
    ["GET / HTTP/3\r\n\r\n", 505, "unsupported version"],
    // A bare LF hiding Transfer-Encoding, and a second request smuggled behind it.
    [
      "POST /mutate HTTP/1.1\r\nX: a\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n" +
      "0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n",
      400,
      "invalid character 0x0A",
    ],
    ["GET / HTTP/1.1\r\nX: \x0b\r\n\r\n", 400, "invalid character 0x0B"],
  ];
  try {
    for (const [request, status, text] of cases) {
      const c = await Client.open(s);
      try {
        await c.send(request);
        const a = await c.answer();
        assertEquals([a?.status, a?.headers.connection], [status, "close"], request.slice(0, 40));
        assertStringIncludes(a!.body, text);
        assert(await c.closedByServer(), "the connection must be closed");
      } finally {
        c.close();
      }
    }
    const c = await Client.open(s);
    await c.send(post("/mutate", "ok"));
    assertEquals((await c.answer())?.status, 200);
    c.close();
    assertEquals(s.seen.length, 1, "no bad request reached the handler");
  } finally {
    await stop(s);
  }
});

/** Two POSTs on one kept-alive connection with fetch, in a separate process as a real client
 * is: a small body, then a 5 MiB one; prints each status and body, or the error. */
const UPLOAD = `
const client = Deno.createHttpClient({ caCerts: [Deno.env.get("CA")] });
const out = [];
for (const body of ["small", "x".repeat(5 * 1024 * 1024)]) {
  try {
    const r = await fetch(Deno.env.get("URL"), { method: "POST", body, client });
    out.push([r.status, r.headers.get("connection"), await r.text()]);
  } catch (e) {
    out.push([0, null, String(e.cause ?? e)]);
  }
}
console.log(JSON.stringify(out));
`;

Deno.test("a body over the limit is refused with 413, which the sender sees even mid-upload", async () => {
  const s = await start();
  try {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", UPLOAD],
      env: { URL: `https://127.0.0.1:${s.server.port}/mutate`, CA: s.ca.cert },
      stdout: "piped",
    }).output();
    const [small, big] = JSON.parse(new TextDecoder().decode(out.stdout));
    assertEquals(small[0], 200);
    // fetch is still sending the body when the answer comes: had the server closed with
    // unread bytes, fetch would fail with "broken pipe".
    assertEquals([big[0], big[1]], [413, "close"], big[2]);
    assertStringIncludes(big[2], "larger than 1048576 bytes");
    assertEquals(s.seen.map((r) => r.body), ["small"]);
  } finally {
    await stop(s);
  }
});

Deno.test("Expect: 100-continue gets 100 Continue before the body is sent", async () => {
  await withConnection(async (c) => {
    await c.send(
      "POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
    );
    assertEquals((await c.answer())?.status, 100);
    await c.send("body");
    assertEquals((await c.answer())?.body, "/mutate:4");
  });
});

Deno.test("Connection: close and HTTP/1.0 end the connection after the answer", async () => {
  const s = await start();
  try {
    for (const request of [post("/a", "x", "Connection: close\r\n"), "GET /b HTTP/1.0\r\n\r\n"]) {
      const c = await Client.open(s);
      await c.send(request);
      assertEquals((await c.answer())?.headers.connection, "close");
      assert(await c.closedByServer());
      c.close();
    }
  } finally {
    await stop(s);
  }
});

Deno.test("a handler that throws gets a 500 answer and the connection goes on", async () => {
  let calls = 0;
  const s = await start(() => {
    if (++calls === 1) throw new Error("boom");
    return { status: 200, contentType: "text/plain", body: "fine" };
  });
  const c = await Client.open(s);
  try {
    await c.send(post("/mutate", "a"));
    assertEquals((await c.answer())?.status, 500);
    await c.send(post("/mutate", "b"));
    assertEquals((await c.answer())?.body, "fine");
  } finally {
    c.close();
    await stop(s);
  }
});

Deno.test("a connection that stays silent, or stops mid-request, is closed after the idle timeout", async () => {
  const s = await start(undefined, { idleTimeoutMs: 300 });
  const silent = await within(5_000, "a TLS connection", Client.open(s));
  const partial = await within(5_000, "a TLS connection", Client.open(s));
  try {
    await partial.send("POST /mutate HTTP/1.1\r\nContent-Le");
    await within(5_000, "the TLS handshake", silent.conn.handshake());
    // The sweep runs every 300 ms here: closed within a few seconds or the timeout is broken.
    await within(5_000, "the server to close the silent connection", silent.closedByServer());
    // A request in progress has the (longer, default) head timeout; this one is completed
    // after the idle timeout passed and must still be answered. A connection opened after
    // the silent one was closed, and closed for idleness in turn, shows that a sweep ran past
    // the partial request's idle deadline.
    const later = await within(5_000, "a TLS connection", Client.open(s));
    try {
      await within(5_000, "the TLS handshake", later.conn.handshake());
      await within(5_000, "the server to close the later connection", later.closedByServer());
    } finally {
      later.close();
    }
    await partial.send("ngth: 1\r\n\r\nz");
    const a = await within(5_000, "the answer to the completed request", partial.answer());
    assertEquals(a?.body, "/mutate:1");
  } finally {
    silent.close();
    partial.close();
    await stop(s);
  }
});

Deno.test("a renewed certificate is served to new connections; open ones carry on", async () => {
  await withConnection(async (c, s) => {
    await c.send(post("/a", "before"));
    assertEquals((await c.answer())?.status, 200);
    const next = await makeLeaf(s.dir, "next", s.ca, ["IP:127.0.0.1"]);
    await Deno.rename(next.keyFile, s.keyFile);
    await Deno.rename(next.certFile, s.certFile);
    const serial = await certSerial(s.certFile);
    // The server polls the files (every 100 ms here): a poll of its count, with a deadline.
    await waitUntil(
      "the renewed certificate to be loaded",
      () => Promise.resolve(s.server.reloads() > 0),
      5_000,
    );
    assertEquals(s.server.reloads(), 1);
    assertEquals(await servedSerial(`127.0.0.1:${s.server.port}`), serial);
    await c.send(post("/a", "after"));
    assertEquals((await c.answer())?.body, "/a:5", "the old connection still answers");
  });
});

Deno.test("shutdown closes idle connections and lets a request in progress finish", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  let reached!: () => void;
  const inHandler = new Promise<void>((r) => reached = r);
  const s = await start(async (req) => {
    if (req.path === "/slow") reached(), await gate;
    return { status: 200, contentType: "text/plain", body: req.path };
  });
  const idle = await Client.open(s);
  const busy = await Client.open(s);
  try {
    await idle.send(post("/fast", ""));
    assertEquals((await idle.answer())?.body, "/fast");
    await busy.send(post("/slow", ""));
    await within(5_000, "the slow request to reach its handler", inHandler);
    const down = s.server.shutdown();
    assert(await idle.closedByServer(), "the idle connection is closed at once");
    release();
    const a = await busy.answer();
    assertEquals([a?.body, a?.headers.connection], ["/slow", "close"]);
    await down;
    await Deno.connect({ hostname: "127.0.0.1", port: s.server.port }).then(
      (conn) => (conn.close(), assert(false, "still listening")),
      () => {},
    );
  } finally {
    idle.close();
    busy.close();
    await Deno.remove(s.dir, { recursive: true });
  }
});

/** Attack tests: many hostile connections of one kind with the limits set low, a well-formed
 * request sent meanwhile (answered within 1 s), then every hostile connection closed by the
 * server within a few seconds of its deadline. The 1,000-connection runs are
 * scripts/attack/webhook.ts. */
async function underAttack(
  kind: HostileKind,
  count: number,
  limits: Partial<Limits>,
  hits: Partial<Record<LimitHit, number>>,
  extra: Partial<HostileOptions> = {},
  check?: (s: Setup, hostile: Hostile[]) => void | Promise<void>,
) {
  const s = await start(undefined, limits);
  let hostile: Hostile[] = [];
  try {
    hostile = await within(
      30_000,
      `${count} ${kind} connections to open`,
      openMany(kind, count, { port: s.server.port, caCert: s.ca.cert, ...extra }),
    );
    await within(
      1_000,
      `a well-formed request during ${count} ${kind} connections`,
      (async () => {
        const c = await Client.open(s);
        try {
          await c.send(post("/mutate", '{"ok":1}'));
          assertEquals((await c.answer())?.body, "/mutate:8");
        } finally {
          c.close();
        }
      })(),
    );
    await check?.(s, hostile);
    await within(
      10_000,
      `the server to close all ${count} ${kind} connections`,
      Promise.all(hostile.map((h) => h.closed)),
    );
    // Each hostile connection was closed by the limit meant for it, as /metrics counts it.
    for (const [hit, n] of Object.entries(hits)) {
      assert((s.hits[hit as LimitHit] ?? 0) >= n, `${hit}: ${JSON.stringify(s.hits)}`);
    }
  } finally {
    for (const h of hostile) h.stop();
    await stop(s);
  }
}

Deno.test("stalled TLS handshakes are closed at the handshake deadline; others are served meanwhile", async () => {
  await underAttack("stalled-handshake", 200, { handshakeTimeoutMs: 500 }, {
    handshakeTimeout: 200,
  });
});

Deno.test("half-done TLS handshakes are closed at the handshake deadline; others are served meanwhile", async () => {
  await underAttack("half-handshake", 200, { handshakeTimeoutMs: 500 }, { handshakeTimeout: 200 });
});

Deno.test("a head dripped a byte at a time is closed at the head deadline, counted from its first byte", async () => {
  await underAttack("dripped-head", 100, { headTimeoutMs: 1_000 }, { headTimeout: 100 }, {
    dripEveryMs: 200,
  });
});

Deno.test("stalled bodies beyond the body budget get 503 with Retry-After; small requests still pass", async () => {
  await underAttack(
    "stalled-body",
    50,
    { bodyBudget: 2 * 1024 * 1024, bodyTimeoutMs: 5_000 },
    { bodyBudget: 46, bodyTimeout: 4 },
    { bodyLength: 512 * 1024 },
    async (s, hostile) => {
      let closed = 0;
      let allRefused!: () => void;
      const refusedClosed = new Promise<void>((r) => allRefused = r);
      for (const h of hostile) h.closed.then(() => ++closed >= 46 && allRefused());
      await within(5_000, "46 refused connections to close", refusedClosed);
      const refused = hostile.filter((h) => h.received().startsWith("HTTP/1.1 503 "));
      assertEquals(refused.length, 46, "all but the four that fit the 2 MiB budget are refused");
      assertStringIncludes(refused[0]!.received(), "retry-after: 1\r\n");
      assertEquals(s.server.load().bodyBytes, 2 * 1024 * 1024, "the four stalled bodies");
      // The budget is still full (the four stalled ones hold it): a request of up to 64 KiB
      // in all is not counted against it.
      const c = await within(5_000, "a TLS connection", Client.open(s));
      try {
        await c.send(post("/mutate", "x".repeat(60 * 1024)));
        const a = await within(5_000, "the answer to a 60 KiB request", c.answer());
        assertEquals(a?.body, `/mutate:${60 * 1024}`);
      } finally {
        c.close();
      }
    },
  );
});

Deno.test("idle kept-alive connections beyond the cap are closed, the longest waiting first", async () => {
  const limits = { maxConnections: 50, idleTimeoutMs: 3_000 };
  // The well-formed request's connection takes a slot too: 151 evicted, 49 left to time out.
  await underAttack("idle", 200, limits, { maxConnections: 151, idleTimeout: 49 }, {}, (s) => {
    const open = s.server.load().connections;
    assert(open <= 50, `${open} connections open, over the cap of 50`);
  });
});

Deno.test("a connection's read buffer shrinks back after a large request", async () => {
  const s = await start();
  const clients: Client[] = [];
  try {
    for (let i = 0; i < 5; i++) {
      const c = await within(5_000, "a TLS connection", Client.open(s));
      clients.push(c);
      await c.send(post("/mutate", "x".repeat(512 * 1024)));
      assertEquals((await within(5_000, "the answer", c.answer()))?.body, `/mutate:${512 * 1024}`);
    }
    const load = s.server.load();
    assertEquals([load.connections, load.bufferBytes, load.bodyBytes], [5, 5 * 16 * 1024, 0]);
  } finally {
    for (const c of clients) c.close();
    await stop(s);
  }
});

Deno.test("after the descriptor limit is hit and released, new connections are accepted again; /readyz says so meanwhile", async () => {
  const dir = await Deno.makeTempDir({ prefix: "webhook-emfile-" });
  const ca = await makeCa(dir, "ca");
  const leaf = await makeLeaf(dir, "leaf", ca, ["IP:127.0.0.1"]);
  // 80 descriptors: enough to start, far fewer than the connections below.
  const child = new Deno.Command("prlimit", {
    args: [
      "--nofile=80:80",
      Deno.execPath(),
      "run",
      "-A",
      new URL("./testdata/serve_child.ts", import.meta.url).pathname,
      leaf.certFile,
      leaf.keyFile,
      "60000",
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const port = Number((await within(30_000, "the server to print its port", lines.read())).value);
  const s = { ca, server: { port } } as unknown as Setup;
  const ask = (c: Client, path: string) =>
    within(
      5_000,
      `the answer to GET ${path}`,
      (async () => {
        await c.send(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
        return await c.answer();
      })(),
    );
  const kept = await within(5_000, "a TLS connection", Client.open(s));
  const flood: Deno.Conn[] = [];
  try {
    assertEquals((await ask(kept, "/readyz"))?.status, 200);
    // Stalled handshakes (60 s deadline here) hold a descriptor each until the limit is hit.
    await within(
      20_000,
      "120 TCP connections to open",
      (async () => {
        for (let i = 0; i < 120; i++) {
          flood.push(await Deno.connect({ hostname: "127.0.0.1", port }));
        }
      })(),
    );
    // The accept loop fails on its own time: a poll of /readyz, with a deadline.
    await waitUntil(
      "/readyz to answer 503 while accepting fails",
      async () => (await ask(kept, "/readyz"))?.status === 503,
      5_000,
    );
    for (const c of flood.splice(0)) c.close();
    // The backed-off loop retries within a second; connections queued meanwhile are served.
    const fresh = await within(10_000, "a new TLS connection after the release", Client.open(s));
    try {
      assertEquals((await ask(fresh, "/after"))?.body, "/after");
      assertEquals((await ask(fresh, "/readyz"))?.status, 200);
    } finally {
      fresh.close();
    }
  } finally {
    kept.close();
    for (const c of flood) c.close();
    child.kill("SIGKILL");
    await child.status;
    lines.releaseLock();
    await Deno.remove(dir, { recursive: true });
  }
  const log = await stderr;
  assertStringIncludes(log, "accepting a connection failed; retrying");
  assertStringIncludes(log, "Too many open files");
  assertStringIncludes(log, "accepting connections again");
});
