/** A real Prometheus (Debian's package) on 127.0.0.1 scrapes the webhook and the CSI driver,
 * both the compiled executable as it ships, while the driver publishes, fails a publish,
 * rotates and unpublishes, and the real kube-apiserver sends Pods to the webhook; the test
 * reads the series back through Prometheus's HTTP API, as an operator's dashboard would.
 * promtool checks both /metrics texts. */
import { assert, assertEquals } from "./harness/assert.ts";
import {
  applySsiCrd,
  createPod,
  type CsiClient,
  csiClient,
  type CsiDriver,
  kubeletContext,
  podToken,
  startCsi,
  type TestPod,
} from "./harness/csi.ts";
import { testEnv } from "./harness/env.ts";
import { freePort, type Server, spawnServer, waitUntil } from "./harness/process.ts";
import { GUIDE } from "./harness/store_setup.ts";
import { registerWebhook, startWebhook, type WebhookServer } from "./harness/webhook.ts";
import { Suite } from "./harness/suite.ts";
import { mountsBelow, unmount } from "../lib/csi/mount.ts";
import meta from "../deno.json" with { type: "json" };

const env = testEnv();
const DIR = `${env.dir}/metrics`;
const NS = GUIDE.namespace;
/** The namespace whose Pods go to this file's webhook (by its label). */
const POD_NS = "metrics-test";
const LABEL = "secrets-store-metrics-test";
const A = "secrets-store.deckhouse.io/";
const SECRET_PATH = "demo-kv/data/metrics-rotate";
const SECRET = "metrics-first-value-7d1c";
const ROTATED = "metrics-second-value-93ab";
const PROMETHEUS = "/usr/bin/prometheus";
const PROMTOOL = "/usr/bin/promtool";

interface Ctx {
  driver: CsiDriver;
  client: CsiClient;
  metricsUrl: string;
  webhook: WebhookServer;
  prometheus: Server;
  promUrl: string;
}

const suite = new Suite<Ctx>({
  setUp: async () => {
    await Deno.mkdir(DIR, { recursive: true });
    await applySsiCrd(env.kube);
    await env.bao.api("PUT", "sys/policies/acl/metrics-test", {
      policy: 'path "demo-kv/data/metrics-*" { capabilities = ["read"] }\n',
    });
    await env.bao.api("PUT", "auth/kubernetes_local/role/metrics-test-role", {
      bound_service_account_names: GUIDE.serviceAccount,
      bound_service_account_namespaces: NS,
      policies: "metrics-test",
      ttl: "10m",
    });
    await env.bao.api("PUT", SECRET_PATH, { data: { TOKEN: SECRET } });
    const ssi = (name: string, path: string) => ({
      apiVersion: "deckhouse.io/v1alpha1",
      kind: "SecretsStoreImport",
      metadata: { name, namespace: NS },
      spec: {
        type: "CSI",
        role: "metrics-test-role",
        files: [{ name: "token", source: { path, key: "TOKEN" } }],
      },
    });
    for (
      const [name, path] of [["metrics-ssi", SECRET_PATH], [
        "metrics-forbidden-ssi",
        "demo-kv/data/other-team",
      ]]
    ) {
      await env.kube.api(
        "POST",
        `/apis/deckhouse.io/v1alpha1/namespaces/${NS}/secretsstoreimports`,
        ssi(name!, path!),
      );
    }

    const storeConnection = [
      "connectionConfiguration: Manual",
      "connection:",
      `  url: ${env.bao.address}`,
      "  caCert: |",
      ...env.bao.caCert.trim().split("\n").map((l) => `    ${l}`),
    ];
    const metricsPort = freePort();
    const driver = await startCsi({
      dir: `${DIR}/csi`,
      kube: { url: env.kube.url, caFile: env.kube.caFile, token: env.kube.csiToken },
      binary: env.binary,
      settings: storeConnection.join("\n"),
      rotationInterval: "500ms",
      extraArgs: [`--metrics-listen=127.0.0.1:${metricsPort}`],
    });
    const webhook = await startWebhook({
      dir: DIR,
      settings: [...storeConnection, "injector:", "  image: registry.local/secrets-store:test"]
        .join("\n"),
      kube: { url: env.kube.url, caFile: env.kube.caFile, token: env.kube.webhookToken },
      binary: env.binary,
      workers: 2,
    });
    await env.kube.api("POST", "/api/v1/namespaces", {
      metadata: { name: POD_NS, labels: { [LABEL]: "enabled" } },
    });
    await registerWebhook(env.kube, webhook, LABEL);

    const { prometheus, url: promUrl } = await startPrometheus(
      webhook,
      `127.0.0.1:${metricsPort}`,
    );
    return {
      driver,
      client: csiClient(driver.socket),
      metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
      webhook,
      prometheus,
      promUrl,
    };
  },
  tearDown: async (c) => {
    await env.kube.api(
      "DELETE",
      `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/secrets-store-${LABEL}`,
    );
    await env.kube.api("DELETE", `/api/v1/namespaces/${POD_NS}`);
    for (const [volumeId, targetPath] of mounted) {
      await c.client.call("Node", "NodeUnpublishVolume", { volumeId, targetPath });
    }
    c.client.close();
    await Promise.all([c.prometheus.stop(), c.webhook.stop(), c.driver.stop()]);
  },
  onUnload: () => {
    // The servers are killed by process.ts; the mounts a failure left are undone here.
    for (const m of mountsBelow(DIR)) unmount(m);
  },
});

/** Prometheus on a free port of 127.0.0.1, scraping both roles every second. */
async function startPrometheus(
  webhook: WebhookServer,
  csiTarget: string,
): Promise<{ prometheus: Server; url: string }> {
  const dir = `${DIR}/prometheus`;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(`${dir}/webhook-ca.pem`, webhook.caCert);
  const config = {
    global: { scrape_interval: "1s", scrape_timeout: "1s", evaluation_interval: "1s" },
    scrape_configs: [
      {
        job_name: "webhook",
        scheme: "https",
        tls_config: { ca_file: `${dir}/webhook-ca.pem` },
        static_configs: [{ targets: [new URL(webhook.url).host] }],
      },
      { job_name: "csi", static_configs: [{ targets: [csiTarget] }] },
    ],
  };
  // JSON is YAML: no YAML writer needed for a generated file.
  await Deno.writeTextFile(`${dir}/prometheus.yml`, JSON.stringify(config, null, 2));
  const port = freePort();
  const prometheus = spawnServer("prometheus", dir, PROMETHEUS, [
    `--config.file=${dir}/prometheus.yml`,
    `--storage.tsdb.path=${dir}/data`,
    `--web.listen-address=127.0.0.1:${port}`,
    "--log.level=warn",
  ]);
  const url = `http://127.0.0.1:${port}`;
  await waitUntil(
    "prometheus",
    async () => {
      const r = await fetch(`${url}/-/ready`);
      await r.body?.cancel();
      return r.ok;
    },
    30_000,
    prometheus.logFile,
  );
  return { prometheus, url };
}

interface Series {
  metric: Record<string, string>;
  value: [number, string];
}

async function query(c: Ctx, promql: string): Promise<Series[]> {
  const r = await fetch(`${c.promUrl}/api/v1/query?${new URLSearchParams({ query: promql })}`);
  const body = await r.json() as { status: string; error?: string; data?: { result: Series[] } };
  if (body.status !== "success") throw new Error(`${promql}: ${body.error}`);
  return body.data!.result;
}

/** Waits (with a deadline) until `promql` has at least one series; returns them. */
async function eventually(c: Ctx, promql: string): Promise<Series[]> {
  let found: Series[] = [];
  await waitUntil(
    `Prometheus series for ${promql}`,
    async () => (found = await query(c, promql)).length > 0,
    30_000,
    c.prometheus.logFile,
  );
  return found;
}

let n = 0;
async function newPod(): Promise<{ pod: TestPod; jwt: string }> {
  const pod = await createPod(env.kube, NS, `mtest-pod-${++n}`, GUIDE.serviceAccount);
  return { pod, jwt: await podToken(env.kube, pod) };
}

const CAPABILITY = { mount: {}, accessMode: { mode: "SINGLE_NODE_READER_ONLY" } };

async function publish(c: Ctx, ssiName: string) {
  const { pod, jwt } = await newPod();
  const target = `${DIR}/csi/pods/${pod.uid}/volumes/kubernetes.io~csi/secrets/mount`;
  const volumeId = `csi-${pod.uid}`;
  // Settled at once: a failure is an answer here, not an error of the test.
  const code = c.client.call("Node", "NodePublishVolume", {
    volumeId,
    targetPath: target,
    volumeCapability: CAPABILITY,
    readonly: true,
    volumeContext: kubeletContext(ssiName, pod, { "": jwt }),
  }).then(() => 0, (e: { code: number }) => e.code);
  return { pod, target, volumeId, code };
}

/** Creates a Pod in the webhook's namespace; the API server's answer code (201 or 400). */
async function admit(name: string, annotations: Record<string, string>): Promise<number> {
  const r = await env.kube.api<{ code?: number }>(
    "POST",
    `/api/v1/namespaces/${POD_NS}/pods`,
    {
      metadata: { name, annotations },
      spec: { containers: [{ name: "app", image: "registry.invalid/app", command: ["/app"] }] },
    },
    [400],
  );
  return r.code ?? 201;
}

/** What the test put in the store and the API server: none of it may show in a label. */
const published: { pods: TestPod[]; volumes: string[] } = { pods: [], volumes: [] };
/** Volumes mounted by the test: unpublished by the last test if a failure left them. */
const mounted = new Map<string, string>();

suite.test("Prometheus scrapes the CSI driver's publishes, failures, rotation, store requests and gauges", async () => {
  const c = await suite.ready();
  const ok = await publish(c, "metrics-ssi");
  assertEquals(await ok.code, 0);
  published.pods.push(ok.pod);
  published.volumes.push(ok.volumeId);
  mounted.set(ok.volumeId, ok.target);
  assertEquals(await Deno.readTextFile(`${ok.target}/token`), SECRET);
  const missing = await publish(c, "metrics-no-such-ssi");
  const forbidden = await publish(c, "metrics-forbidden-ssi");
  assertEquals([await missing.code, await forbidden.code], [5, 7]); // NOT_FOUND, PERMISSION_DENIED
  for (const p of [missing, forbidden]) {
    published.pods.push(p.pod);
    published.volumes.push(p.volumeId);
  }

  await eventually(
    c,
    'secrets_store_csi_publish_duration_seconds_count{job="csi",outcome="ok"} >= 1',
  );
  await eventually(c, 'secrets_store_csi_publish_duration_seconds_count{outcome="not_found"} >= 1');
  await eventually(
    c,
    'secrets_store_csi_publish_duration_seconds_count{outcome="permission_denied"} >= 1',
  );
  await eventually(c, 'secrets_store_csi_store_logins_total{outcome="ok"} >= 1');
  await eventually(c, 'secrets_store_csi_store_reads_total{outcome="ok"} >= 1');
  await eventually(c, 'secrets_store_csi_store_reads_total{outcome="permission_denied"} >= 1');
  // Every request as the store sees it, by operation, outcome and role.
  const role = 'store_role="metrics-test-role"';
  await eventually(
    c,
    `secrets_store_store_requests_total{operation="login",outcome="ok",${role}} >= 1`,
  );
  await eventually(
    c,
    `secrets_store_store_requests_total{operation="read",outcome="ok",${role}} >= 1`,
  );
  await eventually(
    c,
    `secrets_store_store_requests_total{operation="read",outcome="denied",${role}} >= 1`,
  );
  await eventually(
    c,
    'secrets_store_store_request_duration_seconds_count{job="csi",operation="login"} >= 1',
  );
  await eventually(c, 'secrets_store_csi_volumes{job="csi"} == 1');
  await eventually(c, 'secrets_store_csi_identities{job="csi"} == 1');
  // Sweeps run every 500 ms: their histogram fills while nothing changes.
  await eventually(c, 'secrets_store_csi_rotation_duration_seconds_count{outcome="ok"} >= 1');

  await env.bao.api("PUT", SECRET_PATH, { data: { TOKEN: ROTATED } });
  await waitUntil(
    "the rotated file",
    async () => (await Deno.readTextFile(`${ok.target}/token`)) === ROTATED,
    30_000,
    c.driver.logFile,
  );
  await eventually(c, 'secrets_store_csi_files_changed_total{job="csi"} >= 1');
  // Volumes were published, so each sweep reads the store: the reads go on counting.
  const reads = Number(
    (await query(c, 'secrets_store_csi_store_reads_total{outcome="ok"}'))[0]!.value[1],
  );
  await eventually(c, `secrets_store_csi_store_reads_total{outcome="ok"} > ${reads}`);

  await c.client.call("Node", "NodeUnpublishVolume", {
    volumeId: ok.volumeId,
    targetPath: ok.target,
  });
  mounted.delete(ok.volumeId);
  await eventually(c, 'secrets_store_csi_unpublish_duration_seconds_count{outcome="ok"} >= 1');
  await eventually(c, 'secrets_store_csi_volumes{job="csi"} == 0');
  // The identity's last volume gone, its store token is revoked (in the background).
  await eventually(
    c,
    `secrets_store_store_requests_total{operation="revoke",outcome="ok",${role}} >= 1`,
  );
  // A histogram Prometheus can take a quantile of: buckets by le, +Inf equal to the count.
  const p99 = await eventually(
    c,
    'histogram_quantile(0.99, sum by (le) (secrets_store_csi_publish_duration_seconds_bucket{job="csi"}))',
  );
  assert(Number(p99[0]!.value[1]) > 0, JSON.stringify(p99));
});

suite.test("Prometheus scrapes the webhook's admissions by outcome and their durations", async () => {
  const c = await suite.ready();
  assertEquals(await admit("mtest-mutated", { [`${A}role`]: "myapp-role" }), 201);
  assertEquals(await admit("mtest-skipped", {}), 201);
  assertEquals(
    await admit("mtest-denied", { [`${A}role`]: "myapp-role", [`${A}env-from-path`]: "a/../b" }),
    400,
  );
  for (const outcome of ["mutated", "skipped", "denied"]) {
    await eventually(
      c,
      `secrets_store_webhook_admissions_total{job="webhook",outcome="${outcome}"} >= 1`,
    );
  }
  await eventually(c, 'secrets_store_webhook_admission_duration_seconds_count{job="webhook"} >= 3');
});

suite.test("both roles report build info and the standard process metrics", async () => {
  const c = await suite.ready();
  for (const job of ["webhook", "csi"]) {
    const info = await eventually(c, `secrets_store_build_info{job="${job}"} == 1`);
    assertEquals(info.length, 1);
    assertEquals(info[0]!.metric.version, meta.version);
    assertEquals(info[0]!.metric.role, job);
    assertEquals(info[0]!.metric.platform, "linux/x86_64");
    assert(/^\d+\.\d+\.\d+/.test(info[0]!.metric.deno_version!), JSON.stringify(info));
    await eventually(c, `up{job="${job}"} == 1`);
    await eventually(c, `process_resident_memory_bytes{job="${job}"} > 1e6`);
    await eventually(c, `process_cpu_seconds_total{job="${job}"} > 0`);
    await eventually(c, `process_open_fds{job="${job}"} > 0`);
    await eventually(c, `process_max_fds{job="${job}"} >= process_open_fds{job="${job}"}`);
    await eventually(c, `process_virtual_memory_bytes{job="${job}"} > 0`);
    // Started after the test run began, and not in the future.
    await eventually(
      c,
      `process_start_time_seconds{job="${job}"} > ${
        Math.floor(Date.now() / 1000) - 3600
      } and process_start_time_seconds{job="${job}"} <= time()`,
    );
  }
});

suite.test("promtool accepts both /metrics texts", async () => {
  const c = await suite.ready();
  const client = Deno.createHttpClient({ caCerts: [c.webhook.caCert] });
  try {
    const texts = {
      webhook: await (await fetch(`${c.webhook.url}/metrics`, { client })).text(),
      csi: await (await fetch(c.metricsUrl)).text(),
    };
    for (const [role, text] of Object.entries(texts)) {
      const child = new Deno.Command(PROMTOOL, {
        args: ["check", "metrics"],
        stdin: "piped",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(text));
      await w.close();
      const out = await child.output();
      const said = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assertEquals({ role, code: out.code, said }, { role, code: 0, said: "" });
    }
  } finally {
    client.close();
  }
});

suite.test("no label Prometheus stored names a Pod, a volume, a store path or a secret", async () => {
  const c = await suite.ready();
  assert(published.pods.length >= 3, "the CSI test published first");
  const forbidden = [
    SECRET,
    ROTATED,
    SECRET_PATH,
    "other-team",
    "mtest-",
    "metrics-ssi",
    "metrics-forbidden-ssi",
    NS,
    POD_NS,
    ...published.pods.flatMap((p) => [p.name, p.uid]),
    ...published.volumes,
  ];
  const names = (await (await fetch(`${c.promUrl}/api/v1/labels`)).json()).data as string[];
  assert(names.includes("outcome") && names.includes("version"), names.join(","));
  for (const name of names) {
    const values = (await (await fetch(`${c.promUrl}/api/v1/label/${name}/values`)).json())
      .data as string[];
    if (name === "store_role") {
      // The one label a user writes: the SecretsStoreImport's role, and nothing else.
      assertEquals(values, ["metrics-test-role"]);
      continue;
    }
    for (const v of values) {
      for (const f of forbidden) assert(!v.includes(f), `label ${name}="${v}" holds ${f}`);
    }
  }
  // Nor anywhere in the texts themselves (but for the role, in its own label).
  const text = (await (await fetch(c.metricsUrl)).text()).replaceAll(
    'store_role="metrics-test-role"',
    "",
  );
  for (const f of forbidden) assert(!text.includes(f), `/metrics of the driver holds ${f}`);
});
