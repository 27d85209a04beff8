/** Entry of a `--workers` thread of `webhook serve` (run.ts starts it): the same serving code
 * on the same port, counting into the main thread's shared metrics. */
import { batchedStderr } from "../log/batched.ts";
import { createLogger } from "../log/logger.ts";
import { WebhookMetrics } from "./metrics.ts";
import { type Serving, startServing, type ToWorker } from "./serving.ts";

// The project type-checks against the window globals; these are the worker's.
const scope = self as unknown as {
  onmessage: (e: MessageEvent<ToWorker>) => void;
  postMessage(message: unknown): void;
};

let serving: Serving | undefined;
const out = batchedStderr();
scope.onmessage = async (e) => {
  const m = e.data;
  if (m.type === "start") {
    const f = m.flags;
    const log = createLogger({
      level: f.logLevel,
      json: f.jsonLog,
      base: { component: "webhook", worker: m.id },
      write: out.write,
    });
    try {
      serving = await startServing(f, new WebhookMetrics(m.metrics), log);
      scope.postMessage({ type: "started" });
    } catch (error) {
      scope.postMessage({ type: "failed", error: (error as Error).message });
    }
  } else {
    await serving?.stop();
    out.flush();
    scope.postMessage({ type: "stopped" });
  }
};
