/** URL routing of the webhook server. */
import { type AdmissionDeps, handleAdmission } from "./admission.ts";
import type { Answer } from "./http1.ts";
import type { Handler, HttpRequest } from "./server.ts";
import { CONTENT_TYPE } from "../metrics/exposition.ts";

/** POST /mutate, GET /healthz, /readyz and /metrics. `accepting` says whether the server is
 * taking new connections (RunningServer.accepting); /readyz is 503 while it is not. */
export function webhookRoutes(deps: AdmissionDeps, accepting: () => boolean): Handler {
  const ready = readinessRoute(accepting);
  // Not async: an admission that needs no image lookup is answered without yielding.
  return (req) => {
    if (req.path === "/mutate" && req.method === "POST") return handleAdmission(req.body, deps);
    if (req.method !== "GET" && req.method !== "HEAD") return text(405, "method not allowed\n");
    const readiness = ready(req);
    if (readiness) return readiness;
    if (req.path === "/healthz") return text(200, "ok\n");
    if (req.path === "/metrics") {
      return {
        status: 200,
        contentType: CONTENT_TYPE,
        body: deps.metrics.render(),
      };
    }
    return text(404, "not found\n");
  };
}

/** GET /readyz: 200 while new connections are accepted, else 503, so that a replica whose
 * accept loop is failing (EMFILE) is taken out of the Service until it recovers; liveness
 * (/healthz) stays 200, since the loop recovers by itself. Undefined for other paths. */
export function readinessRoute(accepting: () => boolean): (req: HttpRequest) => Answer | undefined {
  return (req) => {
    if (req.path !== "/readyz") return undefined;
    return accepting() ? text(200, "ok\n") : text(503, "not accepting connections\n");
  };
}

function text(status: number, body: string): Answer {
  return { status, contentType: "text/plain", body };
}
