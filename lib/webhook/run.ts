/** `webhook serve`: settings, Kubernetes access, the store defaults, then the HTTPS server
 * until SIGTERM. */
import { storeDefaults } from "../config/connection.ts";
import { parseDuration } from "../config/duration.ts";
import { KubeClient, kubeClientOptions, type KubeFlags } from "../kube/client.ts";
import { readStrongholdCa } from "../kube/stronghold_ca.ts";
import { createLogger, type LogLevel } from "../log/logger.ts";
import { ImageLookup } from "../oci/lookup.ts";
import { untilSignal } from "../cli/signals.ts";
import { versionLine } from "../version.ts";
import { imageResolver } from "./images.ts";
import { WebhookMetrics } from "./metrics.ts";
import { webhookRoutes } from "./routes.ts";
import { serveHttps } from "./server.ts";
import { parseWebhookSettings } from "./settings.ts";

export interface WebhookFlags extends KubeFlags {
  config: string;
  listen: string;
  tlsCert: string;
  tlsKey: string;
  tlsReloadEvery: string;
  logLevel: LogLevel;
  jsonLog: boolean;
  /** Resolves when the server should stop; SIGTERM by default. */
  until?: Promise<void>;
}

/** Runs the webhook until `until` resolves. */
export async function runWebhook(f: WebhookFlags): Promise<void> {
  const log = createLogger({ level: f.logLevel, json: f.jsonLog, base: { component: "webhook" } });
  const settings = parseWebhookSettings(await readConfig(f.config), f.config);
  const [hostname, port] = splitListen(f.listen);
  const kube = new KubeClient(kubeClientOptions(f));
  const defaults = await storeDefaults(settings, () => readStrongholdCa(kube));
  const metrics = new WebhookMetrics();
  const lookup = new ImageLookup({
    platform: settings.registry.platform,
    caCerts: settings.registry.caCert ? [settings.registry.caCert] : undefined,
    plainHttpRegistries: settings.registry.plainHttp,
    cacheTtlMs: parseDuration(settings.registry.cacheTtl),
    timeoutMs: parseDuration(settings.registry.timeout),
  });
  const server = await serveHttps({
    hostname,
    port,
    certFile: f.tlsCert,
    keyFile: f.tlsKey,
    reloadEveryMs: parseDuration(f.tlsReloadEvery),
    logger: log,
    handler: webhookRoutes({
      defaults,
      injector: settings.injector,
      resolveImages: imageResolver(kube, lookup, metrics, log),
      logger: log,
      metrics,
    }),
  });
  log.info("webhook serving", {
    version: versionLine(),
    listen: `${hostname}:${server.port}`,
    store: defaults.address,
  });
  await (f.until ?? untilSignal());
  log.info("shutting down");
  await server.shutdown();
  lookup.close();
  kube.close();
}

async function readConfig(file: string): Promise<string> {
  try {
    return await Deno.readTextFile(file);
  } catch (e) {
    throw new TypeError(`Cannot read settings file ${file}: ${(e as Error).message}`);
  }
}

function splitListen(listen: string): [string, number] {
  const m = listen.match(/^(.*):(\d+)$/);
  if (!m) {
    throw new TypeError(`Invalid --listen "${listen}": expected host:port, e.g. 0.0.0.0:8443`);
  }
  return [m[1]!.replace(/^\[|\]$/g, "") || "0.0.0.0", Number(m[2])];
}
