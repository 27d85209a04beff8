/** `check-install`, the chart's `helm test`: proves an installation works as the cluster sees
 * it. The webhook is called the way the API server calls it (the Service and the caBundle of
 * its MutatingWebhookConfiguration, the name `<service>.<namespace>.svc` verified), so a wrong
 * caBundle, a Service without endpoints or a webhook that is not ready fails here; the CSI
 * driver must have its CSIDriver object and be registered by the kubelet of the given node.
 * Cluster DNS is not needed: the Service's ClusterIP comes from the API. */
import { z } from "zod";
import { UsageError } from "../cli/errors.ts";
import { parseDuration } from "../config/duration.ts";
import { createLogger, type Logger, type LogLevel } from "../log/logger.ts";
import {
  checkObjectName,
  clusterObjectPath,
  CSI_DRIVERS,
  CSI_NODES,
  KubeNameError,
  MUTATING_WEBHOOK_CONFIGURATIONS,
  namespacedObjectPath,
  SERVICES,
} from "./api_path.ts";
import { KubeClient, kubeClientOptions, type KubeFlags } from "./client.ts";

/** The flags of `check-install`. */
export interface CheckInstallFlags extends KubeFlags {
  webhook?: string;
  csiDriver?: string;
  node: string;
  timeout: string;
  logLevel: LogLevel;
  jsonLog: boolean;
}

/** `check-install`: every flag checked before the first request. */
export async function runCheckInstall(f: CheckInstallFlags): Promise<void> {
  if (f.webhook === undefined && f.csiDriver === undefined) {
    throw new UsageError("check-install: give --webhook, --csi-driver or both");
  }
  let timeoutMs: number;
  try {
    timeoutMs = parseDuration(f.timeout);
  } catch (e) {
    throw new UsageError(`--timeout: ${(e as Error).message}`);
  }
  if (f.webhook !== undefined) checkObjectName("--webhook", f.webhook);
  if (f.csiDriver !== undefined) {
    checkObjectName("--csi-driver", f.csiDriver);
    if (!f.node) throw new UsageError("--node is required with --csi-driver (or set NODE_NAME)");
    checkObjectName("--node", f.node);
  }
  const log = createLogger({
    level: f.logLevel,
    json: f.jsonLog,
    base: { component: "check-install" },
  });
  const kube = new KubeClient(kubeClientOptions(f));
  try {
    await checkInstall({
      kube,
      log,
      webhook: f.webhook,
      csiDriver: f.csiDriver,
      node: f.node,
      timeoutMs,
    });
  } finally {
    kube.close();
  }
  log.info("installation checked");
}

export interface InstallCheck {
  kube: KubeClient;
  log: Logger;
  /** Name of the MutatingWebhookConfiguration whose webhooks are called. */
  webhook?: string | undefined;
  /** CSI driver name that must have a CSIDriver and an entry in `node`'s CSINode. */
  csiDriver?: string | undefined;
  /** Required with `csiDriver`. */
  node: string;
  /** Each check is tried again until this long after the start, then fails. */
  timeoutMs: number;
  /** Between tries of one check. */
  pauseMs?: number;
}

/** The longest answer head read from the webhook: a status line and a few headers. */
const MAX_ANSWER = 4096;
/** One HTTPS exchange with the webhook, connect to answer. */
const EXCHANGE_MS = 5000;

const WebhookConfiguration = z.object({
  webhooks: z.array(z.object({
    name: z.string(),
    clientConfig: z.object({
      caBundle: z.string().min(1),
      service: z.object({
        name: z.string(),
        namespace: z.string(),
        port: z.number().int().min(1).max(65535).default(443),
      }),
    }),
  })).min(1),
});
const Service = z.object({ spec: z.object({ clusterIP: z.string().min(1) }) });
const CsiNode = z.object({
  spec: z.object({
    drivers: z.array(z.object({ name: z.string() })).nullish(),
  }),
});

/** Runs the checks that were asked for; throws naming the first one that never passed. */
export async function checkInstall(c: InstallCheck): Promise<void> {
  const deadline = Date.now() + c.timeoutMs;
  if (c.webhook !== undefined) {
    const name = c.webhook;
    const path = clusterObjectPath(MUTATING_WEBHOOK_CONFIGURATIONS, {
      field: "--webhook",
      value: name,
    });
    const config = await retry(
      c,
      deadline,
      `MutatingWebhookConfiguration ${name}`,
      () => c.kube.get(path, WebhookConfiguration),
    );
    for (const hook of config.webhooks) {
      const svc = hook.clientConfig.service;
      const what = `webhook ${hook.name} (Service ${svc.namespace}/${svc.name} port ${svc.port})`;
      const ca = decodeBase64(hook.clientConfig.caBundle, `${name}: caBundle of ${hook.name}`);
      const status = await retry(c, deadline, what, async () => {
        const service = await c.kube.get(
          namespacedObjectPath(
            SERVICES,
            { field: `${hook.name} clientConfig.service.namespace`, value: svc.namespace },
            { field: `${hook.name} clientConfig.service.name`, value: svc.name },
          ),
          Service,
        );
        const line = await readyz(
          service.spec.clusterIP,
          svc.port,
          `${svc.name}.${svc.namespace}.svc`,
          ca,
        );
        if (!line.startsWith("HTTP/1.1 200")) throw new Error(`GET /readyz answered ${line}`);
        return line;
      });
      c.log.info("webhook answers", { webhook: hook.name, status });
    }
  }
  if (c.csiDriver !== undefined) {
    const driver = c.csiDriver;
    await retry(
      c,
      deadline,
      `CSIDriver ${driver}`,
      () =>
        c.kube.get(
          clusterObjectPath(CSI_DRIVERS, { field: "--csi-driver", value: driver }),
          z.unknown(),
        ),
    );
    c.log.info("CSIDriver exists", { driver });
    const path = clusterObjectPath(CSI_NODES, { field: "--node", value: c.node });
    await retry(c, deadline, `driver ${driver} in CSINode ${c.node}`, async () => {
      const node = await c.kube.get(path, CsiNode);
      if (!node.spec.drivers?.some((d) => d.name === driver)) {
        throw new Error(`the kubelet of node ${c.node} has not registered ${driver}`);
      }
    });
    c.log.info("CSI driver registered", { driver, node: c.node });
  }
}

/** Tries `f` until it resolves or the deadline passes; the error names the check and the last
 * reason. */
async function retry<T>(c: InstallCheck, deadline: number, what: string, f: () => Promise<T>) {
  let tries = 0;
  for (;;) {
    tries++;
    try {
      return await f();
    } catch (e) {
      const reason = (e as Error).message;
      // A bad name stays bad: no point in asking again.
      if (e instanceof KubeNameError) throw e;
      if (Date.now() + (c.pauseMs ?? 2000) >= deadline) {
        throw new Error(`${what}: ${reason} (${tries} tries)`);
      }
      c.log.debug("not yet", { check: what, reason });
      await new Promise((r) => setTimeout(r, c.pauseMs ?? 2000));
    }
  }
}

/** GET /readyz over TLS to `ip`, verifying the certificate for `serverName` against `ca`;
 * resolves to the status line. */
async function readyz(ip: string, port: number, serverName: string, ca: string): Promise<string> {
  const signal = AbortSignal.timeout(EXCHANGE_MS);
  const tcp = await Deno.connect({ hostname: ip, port, signal });
  let conn: Deno.Conn = tcp;
  const abort = () => conn.close();
  signal.addEventListener("abort", abort, { once: true });
  try {
    conn = await Deno.startTls(tcp, { hostname: serverName, caCerts: [ca] });
    await conn.write(
      new TextEncoder().encode(
        `GET /readyz HTTP/1.1\r\nHost: ${serverName}\r\nConnection: close\r\n\r\n`,
      ),
    );
    const buf = new Uint8Array(MAX_ANSWER);
    let n = 0;
    while (n < buf.length) {
      const got = await conn.read(buf.subarray(n));
      if (got === null) break;
      n += got;
      if (buf.subarray(0, n).includes(10)) break;
    }
    const head = new TextDecoder().decode(buf.subarray(0, n));
    const line = head.split("\r\n")[0] ?? "";
    if (!line) throw new Error("no answer to GET /readyz");
    return line;
  } catch (e) {
    if (signal.aborted) throw new Error(`no answer to GET /readyz within ${EXCHANGE_MS} ms`);
    throw e;
  } finally {
    signal.removeEventListener("abort", abort);
    try {
      conn.close();
    } catch { /* closed by the abort */ }
  }
}

function decodeBase64(b64: string, field: string): string {
  try {
    return new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
  } catch {
    throw new TypeError(`${field}: not base64`);
  }
}
