/** URL routing of the webhook server. */
import { type AdmissionDeps, handleAdmission } from "./admission.ts";

/** POST /mutate, GET /healthz, /readyz and /metrics. */
export function webhookRoutes(deps: AdmissionDeps): (req: Request) => Promise<Response> {
  return async (req) => {
    const { pathname } = new URL(req.url);
    if (pathname === "/mutate" && req.method === "POST") return await handleAdmission(req, deps);
    if (req.method !== "GET") return new Response("method not allowed\n", { status: 405 });
    if (pathname === "/healthz" || pathname === "/readyz") return new Response("ok\n");
    if (pathname === "/metrics") {
      return new Response(deps.metrics.render(), {
        headers: { "content-type": "text/plain; version=0.0.4" },
      });
    }
    return new Response("not found\n", { status: 404 });
  };
}
