/** A plain-http peer on 127.0.0.1 (port 0) for unit tests of the HTTP clients
 * (lib/http/fetch_transport_test.ts, lib/kube/client_test.ts). */

/** Runs `fn` with the origin of a server answering with `handler`, stopped afterwards. */
export async function withLocalServer(
  handler: (req: Request) => Response | Promise<Response>,
  fn: (origin: string) => Promise<void>,
): Promise<void> {
  const ac = new AbortController();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, signal: ac.signal, onListen() {} },
    handler,
  );
  try {
    await fn(`http://127.0.0.1:${server.addr.port}`);
  } finally {
    ac.abort();
    await server.finished;
  }
}

/** An answer whose chunked body goes on until the client stops reading, bounded at 1 GiB for
 * the test's own sake. `sent()` is what the server produced: socket buffers let it run ahead
 * of a client that stopped, so it is compared with the bound, not with the client's limit. */
export function endlessAnswer(): {
  answer: () => Response;
  sent: () => number;
  /** The client stopped reading well before the bound. */
  stoppedEarly: () => boolean;
} {
  const chunk = new Uint8Array(1 << 20).fill(0x20);
  let sent = 0;
  return {
    sent: () => sent,
    stoppedEarly: () => sent < 128 * chunk.length,
    answer: () =>
      new Response(
        new ReadableStream<Uint8Array>({
          pull(c) {
            sent += chunk.length;
            if (sent > 1024 * chunk.length) c.close();
            else c.enqueue(chunk);
          },
        }),
      ),
  };
}
