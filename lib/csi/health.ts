/** The driver's plain-HTTP endpoints: GET /healthz for the DaemonSet's liveness probe (200
 * once volumes are restored and the CSI socket is served, 503 before) and GET /metrics for
 * Prometheus. Built in, like registration, so the driver needs no livenessprobe sidecar. One
 * listener serves whichever of them it is given (--health-listen and --metrics-listen may
 * name the same address). */
import { parseListen } from "../cli/listen.ts";
import { CONTENT_TYPE } from "../metrics/exposition.ts";

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

export interface HealthRoutes {
  /** GET /healthz answers 200 while it returns true. */
  ready?: () => boolean;
  /** GET /metrics answers with its text. */
  metrics?: () => string;
}

/** Serves `routes` on `listen`, an address given by `setting` (named in errors). */
export function serveHealth(setting: string, listen: string, routes: HealthRoutes): HealthServer {
  const { hostname, port } = parseListen(setting, listen);
  const server = Deno.serve(
    { hostname, port, onListen: () => {} },
    (req) => healthAnswer(req, routes),
  );
  return { port: server.addr.port, close: () => server.shutdown() };
}

/** The answer to one request: a plain Request -> Response function. */
export function healthAnswer(req: Request, routes: HealthRoutes): Response {
  const path = new URL(req.url).pathname;
  const known = (path === "/healthz" && routes.ready) || (path === "/metrics" && routes.metrics);
  if (!known) return new Response("not found\n", { status: 404 });
  if (req.method !== "GET" && req.method !== "HEAD") {
    return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
  }
  if (path === "/metrics") {
    return new Response(routes.metrics!(), { headers: { "content-type": CONTENT_TYPE } });
  }
  return routes.ready!() ? new Response("ok\n") : new Response("starting\n", { status: 503 });
}
