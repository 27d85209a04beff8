/** GET /healthz over plain HTTP for the DaemonSet's liveness probe: 200 once volumes are
 * restored and the CSI socket is served, 503 before. Built in, like registration, so the
 * driver needs no livenessprobe sidecar. */
import { parseListen } from "../cli/listen.ts";

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

export function serveHealth(listen: string, ready: () => boolean): HealthServer {
  const { hostname, port } = parseListen("--health-listen", listen);
  const server = Deno.serve({
    hostname,
    port,
    onListen: () => {},
  }, (req) => {
    if (new URL(req.url).pathname !== "/healthz") {
      return new Response("not found\n", { status: 404 });
    }
    return ready() ? new Response("ok\n") : new Response("starting\n", { status: 503 });
  });
  return { port: server.addr.port, close: () => server.shutdown() };
}
