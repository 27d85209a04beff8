/** A TCP proxy on 127.0.0.1 that holds every client-to-server chunk for `delayMs` before
 * passing it on, so each request (and each TLS handshake flight) pays that latency. */

export interface LatencyProxy {
  port: number;
  close(): Promise<void>;
}

/** Proxies to `target` (host:port) with `delayMs` added to each chunk sent by clients. */
export function startLatencyProxy(
  target: { hostname: string; port: number },
  delayMs: number,
): LatencyProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const serving = (async () => {
    for await (const client of listener) {
      conns.add(client);
      (async () => {
        const server = await Deno.connect(target);
        conns.add(server);
        const slow = new TransformStream<Uint8Array, Uint8Array>({
          async transform(chunk, ctl) {
            await new Promise((r) => setTimeout(r, delayMs));
            ctl.enqueue(chunk);
          },
        });
        await Promise.allSettled([
          client.readable.pipeThrough(slow).pipeTo(server.writable),
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
