/** URL routing of the webhook server. */
import { type AdmissionDeps, handleAdmission } from "./admission.ts";
import type { Answer } from "./http1.ts";
import type { Handler } from "./server.ts";

/** POST /mutate, GET /healthz, /readyz and /metrics. */
export function webhookRoutes(deps: AdmissionDeps): Handler {
  // Not async: an admission that needs no image lookup is answered without yielding.
  return (req) => {
    if (req.path === "/mutate" && req.method === "POST") return handleAdmission(req.body, deps);
    if (req.method !== "GET" && req.method !== "HEAD") return text(405, "method not allowed\n");
    if (req.path === "/healthz" || req.path === "/readyz") return text(200, "ok\n");
    if (req.path === "/metrics") {
      return {
        status: 200,
        contentType: "text/plain; version=0.0.4",
        body: deps.metrics.render(),
      };
    }
    return text(404, "not found\n");
  };
}

function text(status: number, body: string): Answer {
  return { status, contentType: "text/plain", body };
}
