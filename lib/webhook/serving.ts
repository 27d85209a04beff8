/** One serving thread of `webhook serve`: reads the settings, reaches the Kubernetes API,
 * works out the store defaults and serves HTTPS. The first thread and every `--workers`
 * thread run exactly this, so they answer alike. */
import { parseListen } from "../cli/listen.ts";
import { INSECURE_HTTP_WARNING } from "../config/connection.ts";
import { parseDuration } from "../config/duration.ts";
import { KubeClient, kubeClientOptions, type KubeFlags } from "../kube/client.ts";
import { EventRecorder } from "../kube/events.ts";
import { keepStoreDefaults } from "../kube/stronghold_ca.ts";
import type { Logger, LogLevel } from "../log/logger.ts";
import { ImageLookup } from "../oci/lookup.ts";
import { MAX_BODY } from "./admission.ts";
import { imageResolver } from "./images.ts";
import type { WebhookMetrics } from "./metrics.ts";
import { webhookRoutes } from "./routes.ts";
import { type Limits, serveHttps } from "./server.ts";
import { parseWebhookSettings, type WebhookSettings } from "./settings.ts";

export interface WebhookFlags extends KubeFlags {
  config: string;
  listen: string;
  tlsCert: string;
  tlsKey: string;
  tlsReloadEvery: string;
  logLevel: LogLevel;
  jsonLog: boolean;
  /** Serving threads; 1 by default. */
  workers?: string | number;
  /** Resolves when the server should stop; SIGTERM by default. */
  until?: Promise<void>;
}

/** What run.ts tells a worker thread (worker.ts). */
export type ToWorker =
  | { type: "start"; flags: WebhookFlags; metrics: SharedArrayBuffer; id: number }
  | { type: "stop" };

export interface Serving {
  hostname: string;
  port: number;
  /** The store address Pods are sent to. */
  store: string;
  stop(): Promise<void>;
}

/** The flags checked and parsed, before anything is read or served. */
export interface CheckedFlags {
  hostname: string;
  port: number;
  reloadEveryMs: number;
  workers: number;
}

/** Checks every flag of `webhook serve`; throws naming the flag. */
export function checkWebhookFlags(f: WebhookFlags): CheckedFlags {
  const { hostname, port } = parseListen("--listen", f.listen, "0.0.0.0:8443");
  const workers = Number(f.workers ?? 1);
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) {
    throw new TypeError(`Invalid --workers "${f.workers}": expected a whole number from 1 to 64`);
  }
  let reloadEveryMs;
  try {
    reloadEveryMs = parseDuration(f.tlsReloadEvery);
  } catch (e) {
    throw new TypeError(`Invalid --tls-reload-every: ${(e as Error).message}`);
  }
  for (const [flag, file] of [["--tls-cert", f.tlsCert], ["--tls-key", f.tlsKey]] as const) {
    if (!file) throw new TypeError(`${flag} is required`);
  }
  return { hostname, port, reloadEveryMs, workers };
}

/** Starts serving; resolves once listening. */
export async function startServing(
  f: WebhookFlags,
  metrics: WebhookMetrics,
  log: Logger,
): Promise<Serving> {
  const { hostname, port, reloadEveryMs } = checkWebhookFlags(f);
  const settings = parseWebhookSettings(await readConfig(f.config), f.config);
  const kube = new KubeClient(kubeClientOptions(f));
  const events = new EventRecorder({
    client: kube,
    controller: "secrets-store.deckhouse.io/webhook",
    instance: Deno.env.get("POD_NAME") || Deno.hostname(),
    onError: (error, stats) => log.warn("events not written", { error, ...stats }),
  });
  // Without Stronghold's CA the webhook still serves, and stays ready: readiness means it
  // answers admissions, and with failurePolicy Fail a webhook that is not ready blocks every
  // Pod of the cluster. Only Pods that need the CA are denied, naming the Secret.
  const defaults = await keepStoreDefaults(settings, {
    kube,
    logger: log,
    onCaKnown: (known) => metrics.storeCaKnown(known),
  });
  const { address, allowInsecureHttp } = defaults.current();
  if (allowInsecureHttp) log.warn(INSECURE_HTTP_WARNING);
  const lookup = new ImageLookup({
    platform: settings.registry.platform,
    ...(settings.registry.caCert ? { caCerts: [settings.registry.caCert] } : {}),
    plainHttpRegistries: settings.registry.plainHttp,
    cacheTtlMs: parseDuration(settings.registry.cacheTtl),
    timeoutMs: parseDuration(settings.registry.timeout),
  });
  // /readyz asks the server it is served by: bound once the server exists.
  let accepting = () => false;
  const server = await serveHttps({
    hostname,
    port,
    certFile: f.tlsCert,
    keyFile: f.tlsKey,
    reloadEveryMs,
    bodyLimit: MAX_BODY,
    limits: serverLimits(settings),
    onLimit: (hit) => metrics.limitHit(hit),
    logger: log,
    handler: webhookRoutes({
      defaults: defaults.current,
      injector: settings.injector,
      resolveImages: imageResolver(kube, lookup, metrics, log),
      logger: log,
      metrics,
      events,
    }, () => accepting()),
  });
  accepting = server.accepting;
  return {
    hostname,
    port: server.port,
    store: address,
    async stop() {
      defaults.close();
      await server.shutdown();
      await events.close();
      lookup.close();
      kube.close();
    },
  };
}

function serverLimits({ limits: l }: WebhookSettings): Limits {
  return {
    maxConnections: l.maxConnections,
    bodyBudget: l.bodyBudgetMiB * 1024 * 1024,
    handshakeTimeoutMs: parseDuration(l.handshakeTimeout),
    headTimeoutMs: parseDuration(l.headTimeout),
    bodyTimeoutMs: parseDuration(l.bodyTimeout),
    idleTimeoutMs: parseDuration(l.idleTimeout),
  };
}

async function readConfig(file: string): Promise<string> {
  try {
    return await Deno.readTextFile(file);
  } catch (e) {
    throw new TypeError(`Cannot read settings file ${file}: ${(e as Error).message}`);
  }
}
