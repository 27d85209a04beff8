/** A TCP proxy on 127.0.0.1 that delivers every client-to-server chunk `delayMs` after it
 * arrived, like a slow link: each request (and each TLS handshake flight) pays the latency
 * once, and chunks in flight together are not serialised behind each other. */

export interface LatencyProxy {
  port: number;
  close(): Promise<void>;
}

/** Proxies to `target` (host:port) with `delayMs` added to each chunk sent by clients;
 * listens on `port` (a free one by default). */
export function startLatencyProxy(
  target: { hostname: string; port: number },
  delayMs: number,
  port = 0,
): LatencyProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  const conns = new Set<Deno.Conn>();
  const serving = (async () => {
    for await (const client of listener) {
      conns.add(client);
      (async () => {
        const server = await Deno.connect(target);
        // Without this, Nagle's algorithm and delayed ACKs add ~40 ms per exchange on loopback.
        client.setNoDelay(true);
        server.setNoDelay(true);
        conns.add(server);
        await Promise.allSettled([
          delayed(client, server, delayMs),
          server.readable.pipeTo(client.writable),
        ]);
        conns.delete(client);
        conns.delete(server);
      })().catch(() => {});
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await serving;
    },
  };
}

/** Copies `from` to `to`, each chunk written `delayMs` after it was read, order kept. */
async function delayed(from: Deno.Conn, to: Deno.Conn, delayMs: number): Promise<void> {
  const queue: Array<{ chunk: Uint8Array; due: number }> = [];
  let wake: (() => void) | undefined;
  let done = false;
  const reading = (async () => {
    try {
      for await (const chunk of from.readable) {
        queue.push({ chunk, due: performance.now() + delayMs });
        wake?.();
      }
    } catch {
      // The connection was cut (the proxy closed): stop forwarding.
    }
    done = true;
    wake?.();
  })();
  const writer = to.writable.getWriter();
  try {
    while (!done || queue.length > 0) {
      const next = queue.shift();
      if (!next) {
        await new Promise<void>((r) => (wake = r));
        continue;
      }
      const wait = next.due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      await writer.write(next.chunk);
    }
    await writer.close();
  } catch {
    // The other side is gone.
  }
  await reading;
}
