/** `csi serve`: settings, Kubernetes access, restored volumes, the gRPC endpoint and the
 * rotation loop, until SIGTERM. Mounts stay in place when the driver stops. */
import { parse } from "yaml";
import { ConnectionSettingsSchema, INSECURE_HTTP_WARNING } from "../config/connection.ts";
import { describeIssues } from "../config/issues.ts";
import { KubeClient, kubeClientOptions, type KubeFlags } from "../kube/client.ts";
import { EventRecorder } from "../kube/events.ts";
import { keepStoreDefaults } from "../kube/stronghold_ca.ts";
import { createLogger, type Logger, type LogLevel } from "../log/logger.ts";
import { untilSignal } from "../cli/signals.ts";
import { versionLine } from "../version.ts";
import { collectGarbage } from "../sys/gc.ts";
import { serveCsi } from "./endpoint.ts";
import { type HealthServer, serveHealth } from "./health.ts";
import { CsiMetrics } from "./metrics.ts";
import { identityService } from "./identity.ts";
import { nodeService } from "./node.ts";
import { serveRegistration } from "./registration.ts";
import { checkCsiFlags } from "./flags.ts";
import { DRIVER_NAME } from "./proto.ts";
import { StorePool } from "./store_pool.ts";
import { kubeletDir } from "./target_path.ts";
import { VolumeManager } from "./volumes.ts";

export interface CsiFlags extends KubeFlags {
  endpoint: string;
  nodeId: string;
  stateDir: string;
  /** The kubelet's root folder; every target path must lie in a Pod's folder under it. */
  kubeletDir: string;
  config?: string;
  rotationInterval: string;
  rotation: boolean;
  volumeSize: string;
  storeTimeout: string;
  /** The kubelet's plugins_registry folder; registration is off without it. */
  registrationDir?: string;
  /** The CSI socket as the kubelet sees it, when the driver sees it at another path. */
  kubeletEndpoint?: string;
  /** host:port of GET /healthz; off without it. */
  healthListen?: string;
  /** host:port of GET /metrics; off without it. May equal healthListen (one listener). */
  metricsListen?: string;
  logLevel: LogLevel;
  jsonLog: boolean;
  /** Resolves when the driver should stop; SIGTERM by default. */
  until?: Promise<void>;
}

/** How long the driver's stop waits for its store tokens to be revoked. */
const SHUTDOWN_REVOKE_MS = 5_000;

export async function runCsi(f: CsiFlags): Promise<void> {
  // Every flag before anything is read, mounted or served.
  const checked = checkCsiFlags(f);
  const socket = checked.socket;
  const log = createLogger({ level: f.logLevel, json: f.jsonLog, base: { component: "csi" } });
  // Resolved once: where a distribution makes it a symlink, the link is the admin's, and
  // every symlink below it is refused.
  const kubelet = kubeletDir(f.kubeletDir);
  const settings = await readSettings(f.config);
  const kube = new KubeClient(kubeClientOptions(f));
  // Without Stronghold's CA the driver still starts and registers: volumes that need it
  // fail with UNAVAILABLE naming the Secret (the kubelet retries), others are served.
  const defaults = await keepStoreDefaults(settings, { kube, logger: log });
  const { address, allowInsecureHttp } = defaults.current();
  if (allowInsecureHttp) log.warn(INSECURE_HTTP_WARNING);
  // Read at each scrape; `volumes` is made just below, before anything is served.
  const metrics: CsiMetrics = new CsiMetrics({
    volumes: () => volumes.size,
    identities: () => volumes.identities,
    events: () => events.stats,
    storeCaKnown: defaults.caKnown,
  });
  const events = new EventRecorder({
    client: kube,
    controller: "secrets-store.deckhouse.io/csi",
    instance: f.nodeId,
    onError: (error, stats) => log.warn("events not written", { error, ...stats }),
  });
  const pool = new StorePool({
    requestTimeoutMs: checked.storeTimeoutMs,
    // Tokens are renewed (a new login) at sweeps only: one is renewed at the last sweep before
    // a minute ahead of its end, so none runs out between two sweeps and takes the leases of
    // mounted dynamic secrets with it.
    renewBeforeMs: (f.rotation ? checked.rotationEveryMs : 0) + 60_000,
    allowInsecureHttp,
    logger: log,
    observe: (operation, outcome) => metrics.store(operation, outcome),
    requests: (operation, outcome, role, seconds) =>
      metrics.request(operation, outcome, role, seconds),
  });
  const volumes: VolumeManager = new VolumeManager({
    stateDir: f.stateDir,
    kubeletDir: kubelet,
    kube,
    defaults: defaults.current,
    pool,
    volumeBytes: checked.volumeBytes,
    logger: log,
    metrics,
    events,
    rotationEveryMs: checked.rotationEveryMs,
  });
  let ready = false;
  const endpoint = await serveCsi(socket, { ...identityService(() => ready) }, {
    ...nodeService(volumes, f.nodeId),
  }, log);
  const http = serveHttp(f, () => ready, () => metrics.render());
  await volumes.restore();
  if (f.registrationDir) warnLongKubeletSockets(kubelet.given, checked.kubeletSocket, log);
  // Registered last: the kubelet calls the driver as soon as it knows it.
  const registration = f.registrationDir
    ? await serveRegistration(f.registrationDir, checked.kubeletSocket, log)
    : undefined;
  ready = true;
  log.info("csi driver serving", {
    version: versionLine(),
    endpoint: socket,
    node: f.nodeId,
    kubeletDir: kubelet.real,
    store: address,
    registration: registration?.path,
    // Whether the heap can be handed back after each sweep (gc.ts); "off" means a runtime
    // built without --expose-gc, whose heap then stays at its largest.
    gc: collectGarbage() ? "on" : "off",
  });

  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const every = checked.rotationEveryMs;
  const loop = async () => {
    const started = performance.now();
    const s = await volumes.sweep().catch((
      e,
    ) => (log.error("rotation failed", { error: (e as Error).message }), undefined));
    metrics.sweep(s, (performance.now() - started) / 1000);
    // A sweep allocates in a burst; hand the heap it grew back before sleeping (gc.ts).
    collectGarbage();
    const rssMiB = Math.round(Deno.memoryUsage().rss / 1048576);
    if (s && (s.changedFiles || s.failedVolumes)) log.info("rotation", { ...s, rssMiB });
    else if (s) log.debug("rotation", { ...s, rssMiB });
    if (!stopped) timer = setTimeout(loop, every);
  };
  if (f.rotation) timer = setTimeout(loop, every);

  await (f.until ?? untilSignal());
  stopped = true;
  clearTimeout(timer);
  defaults.close();
  // Unregistered first (the kubelet notices the socket going away), then the CSI socket.
  if (registration) {
    await registration.close();
    await Deno.remove(registration.path).catch(() => {}); // already gone is fine
  }
  await endpoint.close();
  await Promise.all(http.map((h) => h.close()));
  // The store tokens it holds are revoked, so a driver restart (an upgrade rolls every node)
  // leaves none behind; bounded well inside the Pod's termination grace period. Those that
  // mounted dynamic credentials depend on are kept, with their leases, to their TTL: the
  // mounts stay, and their credentials must keep working (volumes.leaseHolders()).
  const holders = volumes.leaseHolders();
  if (holders.size > 0) {
    log.info("store tokens kept for the mounted dynamic secrets; they end at their TTL", {
      identities: holders.size,
    });
  }
  await pool.shutdown(SHUTDOWN_REVOKE_MS, holders);
  await events.close();
  kube.close();
  log.info("csi driver stopped; mounts left in place");
}

/** GET /healthz and GET /metrics on their listeners: one listener when both name the same
 * address, none for a setting not given. */
function serveHttp(f: CsiFlags, ready: () => boolean, metrics: () => string): HealthServer[] {
  if (f.healthListen && f.healthListen === f.metricsListen) {
    return [serveHealth("--health-listen", f.healthListen, { ready, metrics })];
  }
  return [
    ...(f.healthListen ? [serveHealth("--health-listen", f.healthListen, { ready })] : []),
    ...(f.metricsListen ? [serveHealth("--metrics-listen", f.metricsListen, { metrics })] : []),
  ];
}

async function readSettings(file?: string) {
  if (!file) return ConnectionSettingsSchema.parse({});
  let raw: unknown;
  try {
    raw = parse(await Deno.readTextFile(file)) ?? {};
  } catch (e) {
    throw new TypeError(`Cannot read settings file ${file}: ${(e as Error).message}`);
  }
  const r = ConnectionSettingsSchema.safeParse(raw);
  if (!r.success) {
    throw new TypeError(`Invalid settings in ${file}: ${describeIssues(r.error.issues)}`);
  }
  return r.data;
}

/** The kubelet dials both sockets at the paths it sees; over 107 bytes (sun_path) it cannot,
 * and registration then fails without a word from either side. Found with a long
 * `--root-dir`; said here so the operator sees it. */
function warnLongKubeletSockets(kubeletDir: string, endpoint: string, log: Logger): void {
  const paths = [`${kubeletDir}/plugins_registry/${DRIVER_NAME}-reg.sock`, endpoint];
  for (const path of paths) {
    const bytes = new TextEncoder().encode(path).length;
    if (bytes > 107) {
      log.warn(
        "the kubelet cannot dial a unix socket path over 107 bytes: shorten the kubelet's root folder",
        {
          path,
          bytes,
        },
      );
    }
  }
}
