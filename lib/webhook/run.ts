/** `webhook serve`: settings, Kubernetes access, the store defaults, then the HTTPS server
 * until SIGTERM. With `--workers N`, N-1 more threads (worker.ts) each run the same server on
 * the same port (SO_REUSEPORT, the kernel spreads connections), sharing one set of metrics:
 * one JavaScript thread is bound by one core, and more threads pay off only where cores are
 * free (the figures are in docs/benchmarks.md). */
import { untilSignal } from "../cli/signals.ts";
import { batchedStderr } from "../log/batched.ts";
import { createLogger } from "../log/logger.ts";
import { versionLine } from "../version.ts";
import { WebhookMetrics } from "./metrics.ts";
import { checkWebhookFlags, startServing, type ToWorker, type WebhookFlags } from "./serving.ts";

export type { WebhookFlags } from "./serving.ts";

/** Runs the webhook until `until` resolves. */
export async function runWebhook(f: WebhookFlags): Promise<void> {
  // Every flag before anything is read, reached or served.
  const { workers } = checkWebhookFlags(f);
  const out = batchedStderr();
  const log = createLogger({
    level: f.logLevel,
    json: f.jsonLog,
    base: { component: "webhook" },
    write: out.write,
  });
  const metrics = new WebhookMetrics();
  const main = await startServing(f, metrics, log);
  const threads = await Promise.all(
    Array.from({ length: workers - 1 }, (_, i) => startWorker(f, metrics, i + 1, main.port)),
  );
  log.info("webhook serving", {
    version: versionLine(),
    listen: `${main.hostname}:${main.port}`,
    workers,
    store: main.store,
  });
  await (f.until ?? untilSignal());
  log.info("shutting down");
  await Promise.all([main.stop(), ...threads.map((t) => t.stop())]);
  out.flush();
}

interface Thread {
  stop(): Promise<void>;
}

/** Starts one more serving thread on the port the first one got; resolves once it listens. */
function startWorker(
  f: WebhookFlags,
  metrics: WebhookMetrics,
  id: number,
  port: number,
): Promise<Thread> {
  const worker = new Worker(new URL("./worker.ts", import.meta.url).href, {
    type: "module",
    name: `webhook-${id}`,
  });
  const { until: _, ...flags } = f;
  const message: ToWorker = {
    type: "start",
    flags: { ...flags, listen: f.listen.replace(/:\d+$/, `:${port}`) },
    metrics: metrics.shared,
    id,
  };
  return new Promise((resolve, reject) => {
    worker.onerror = (e) => {
      e.preventDefault();
      worker.terminate();
      reject(new Error(`webhook worker ${id} failed to start: ${e.message}`));
    };
    worker.onmessage = (e) => {
      if (e.data?.type === "started") {
        resolve({
          stop: () =>
            new Promise<void>((done) => {
              worker.onmessage = () => (worker.terminate(), done());
              worker.postMessage({ type: "stop" } satisfies ToWorker);
            }),
        });
      } else if (e.data?.type === "failed") {
        worker.terminate();
        reject(new Error(`webhook worker ${id} failed to start: ${e.data.error}`));
      }
    };
    worker.postMessage(message);
  });
}
