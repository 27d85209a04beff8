/** Hostile clients of an HTTPS server on 127.0.0.1, one connection each, as an attacker in
 * the cluster would open them: stalled or half-done TLS handshakes, request heads dripped a
 * byte at a time, bodies that stall, kept-alive connections that never send again. Shared by
 * lib/webhook/server_test.ts and scripts/attack/webhook.ts. Only ever connects to 127.0.0.1. */

export const LOOPBACK = "127.0.0.1";

/** One hostile connection. */
export interface Hostile {
  /** Resolves when the server has closed the connection, with the ms since it was opened. */
  closed: Promise<number>;
  /** What the server sent before closing (its first 512 bytes), as text. */
  received(): string;
  /** Closes the connection from this side and stops any dripping. */
  stop(): void;
}

export type HostileKind =
  | "stalled-handshake"
  | "half-handshake"
  | "dripped-head"
  | "stalled-body"
  | "idle";

export interface HostileOptions {
  port: number;
  /** The server's CA, for the kinds that complete the handshake. */
  caCert: string;
  /** dripped-head: ms between bytes. */
  dripEveryMs?: number;
  /** stalled-body: the Content-Length announced; all of the body but its last byte is sent. */
  bodyLength?: number;
}

/** Opens one hostile connection of `kind`; resolves once it is in its hostile state. */
export async function openHostile(kind: HostileKind, o: HostileOptions): Promise<Hostile> {
  if (kind === "stalled-handshake" || kind === "half-handshake") {
    const conn = await Deno.connect({ hostname: LOOPBACK, port: o.port });
    if (kind === "half-handshake") await writeAll(conn, HALF_CLIENT_HELLO);
    return watch(conn);
  }
  const conn = await Deno.connectTls({ hostname: LOOPBACK, port: o.port, caCerts: [o.caCert] });
  await conn.handshake();
  if (kind === "idle") {
    await writeAll(conn, encode("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"));
    // The answer is read by watch(): the connection then sits idle, kept alive.
    return watch(conn);
  }
  if (kind === "stalled-body") {
    const length = o.bodyLength ?? 4 * 1024 * 1024 - 1;
    await writeAll(
      conn,
      encode(`POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Length: ${length}\r\n\r\n`),
    );
    const h = watch(conn);
    // All but the last byte, the most a stalled body makes the server hold. A server that
    // refuses it closes the connection under this write.
    await writeAll(conn, new Uint8Array(length - 1).fill(0x20)).catch(() => {});
    return h;
  }
  const h = watch(conn);
  const every = o.dripEveryMs ?? 1_000;
  const head = encode(`POST /mutate HTTP/1.1\r\nHost: x\r\n${"X-Drip: a\r\n".repeat(1000)}`);
  let stopped = false;
  void (async () => {
    for (let i = 0; !stopped && i < head.length; i++) {
      try {
        await writeAll(conn, head.subarray(i, i + 1));
      } catch {
        return; // closed by the server
      }
      await new Promise((r) => setTimeout(r, every));
    }
  })();
  return {
    ...h,
    stop() {
      stopped = true;
      h.stop();
    },
  };
}

/** Opens `count` hostile connections, `parallel` at a time. */
export async function openMany(
  kind: HostileKind,
  count: number,
  o: HostileOptions,
  parallel = 50,
): Promise<Hostile[]> {
  const out: Hostile[] = [];
  for (let i = 0; i < count; i += parallel) {
    const batch = Math.min(parallel, count - i);
    out.push(...await Promise.all(Array.from({ length: batch }, () => openHostile(kind, o))));
  }
  return out;
}

/** A TLS 1.2 record header announcing a 512-byte ClientHello, and the first bytes of it. */
const HALF_CLIENT_HELLO = new Uint8Array([
  0x16,
  0x03,
  0x01,
  0x02,
  0x00, // handshake record, 512 bytes to come
  0x01,
  0x00,
  0x01,
  0xfc, // ClientHello, 508 bytes
  0x03,
  0x03,
  1,
  2,
  3,
  4,
  5,
  6,
  7,
  8, // version and the start of the random
]);

function watch(conn: Deno.Conn): Hostile {
  const opened = performance.now();
  let text = "";
  let stopped = false;
  const closed = (async () => {
    const buf = new Uint8Array(4096);
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        if (text.length < 512) text += decoder.decode(buf.subarray(0, n)).slice(0, 512);
      }
    } catch {
      // reset by the server: closed as well
    }
    if (!stopped) {
      try {
        conn.close();
      } catch {
        // already closed
      }
    }
    return performance.now() - opened;
  })();
  return {
    closed,
    received: () => text,
    stop() {
      if (stopped) return;
      stopped = true;
      try {
        conn.close();
      } catch {
        // closed by the server already
      }
    },
  };
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array) {
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
}

function encode(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}
