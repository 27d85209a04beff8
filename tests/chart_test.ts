/** The Helm chart as an operator installs it: lint, render, and every rendered object applied
 * to the real kube-apiserver with a server-side dry run (the API server's own validation and
 * admission, nothing stored). */
import { parse, parseAllDocuments } from "yaml";
import {
  assert,
  assertArrayIncludes,
  assertEquals,
  assertStringIncludes,
} from "./harness/assert.ts";
import { testEnv } from "./harness/env.ts";
import { peerBinary, ROOT } from "./harness/process.ts";
import { ConnectionSettingsSchema } from "../lib/config/connection.ts";
import { parseWebhookSettings } from "../lib/webhook/settings.ts";
import { VERSION } from "../lib/version.ts";

const env = testEnv();
const CHART = `${ROOT}/deploy/helm/secrets-store`;
const NS = "d8-secrets-store-integration";

async function helm(...args: string[]) {
  const out = await new Deno.Command(peerBinary("helm"), {
    args,
    stdout: "piped",
    stderr: "piped",
    env: {
      HELM_CACHE_HOME: `${env.dir}/helm`,
      HELM_CONFIG_HOME: `${env.dir}/helm`,
      HELM_DATA_HOME: `${env.dir}/helm`,
    },
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

/** `helm template` of the chart as release "secrets-store" in NS, with `args` added. */
function template(...args: string[]) {
  return helm("template", "secrets-store", CHART, "--namespace", NS, ...args);
}

const CLUSTER_KINDS = new Set([
  "ClusterRole",
  "ClusterRoleBinding",
  "MutatingWebhookConfiguration",
  "CSIDriver",
  "CustomResourceDefinition",
]);

/** The REST path of an object, from its apiVersion and kind. */
function pathOf(
  o: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } },
): string {
  const base = o.apiVersion === "v1" ? "/api/v1" : `/apis/${o.apiVersion}`;
  const plural = o.kind.toLowerCase() + "s";
  const ns = CLUSTER_KINDS.has(o.kind) ? "" : `/namespaces/${o.metadata.namespace ?? NS}`;
  return `${base}${ns}/${plural}/${o.metadata.name}`;
}

/** Server-side apply with dryRun=All: validated and admitted as if installed, nothing stored. */
async function dryRunApply(
  o: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } },
) {
  const client = Deno.createHttpClient({ caCerts: [env.kube.caCert] });
  try {
    const r = await fetch(
      `${env.kube.url}${pathOf(o)}?dryRun=All&fieldManager=chart-test&force=true`,
      {
        method: "PATCH",
        client,
        headers: {
          authorization: `Bearer ${env.kube.adminToken}`,
          "content-type": "application/apply-patch+yaml",
        },
        body: JSON.stringify(o),
      },
    );
    return { status: r.status, body: await r.text() };
  } finally {
    client.close();
  }
}

Deno.test("helm lint passes with the default and the guide's Manual settings", async () => {
  const a = await helm("lint", CHART);
  assertEquals(a.code, 0, a.stdout + a.stderr);
  const b = await helm(
    "lint",
    CHART,
    "--set",
    "connectionConfiguration=Manual",
    "--set",
    "connection.url=https://secretstoreexample.com",
  );
  assertEquals(b.code, 0, b.stdout + b.stderr);
});

Deno.test("Manual without connection.url is refused at render time, naming the setting", async () => {
  const r = await template("--set", "connectionConfiguration=Manual");
  assert(r.code !== 0);
  assertStringIncludes(r.stderr, "connection.url is required with connectionConfiguration: Manual");
});

Deno.test("every rendered object passes the API server's validation (server-side dry run)", async () => {
  for (const ns of [NS, "d8-stronghold"]) {
    await env.kube.api("POST", "/api/v1/namespaces", { metadata: { name: ns } }, [409]);
  }
  const r = await template("--include-crds");
  assertEquals(r.code, 0, r.stderr);
  const objects = parseAllDocuments(r.stdout).map((d) => d.toJS()).filter((o) => o);
  const kinds = objects.map((o) => o.kind).sort();
  for (
    const k of [
      "CSIDriver",
      "ConfigMap",
      "CustomResourceDefinition",
      "DaemonSet",
      "Deployment",
      "MutatingWebhookConfiguration",
      "PodDisruptionBudget",
      "Secret",
      "Service",
    ]
  ) assertArrayIncludes(kinds, [k], `no ${k} rendered`);
  for (const o of objects) {
    const res = await dryRunApply(o);
    assert(
      res.status === 200 || res.status === 201,
      `${o.kind} ${o.metadata.name}: HTTP ${res.status} ${res.body.slice(0, 400)}`,
    );
  }
  const mwc = objects.find((o) => o.kind === "MutatingWebhookConfiguration");
  const hook = mwc.webhooks[0];
  assertEquals([hook.failurePolicy, hook.sideEffects], ["Fail", "None"]);
  assertStringIncludes(JSON.stringify(hook.namespaceSelector), "kube-system");
  const secret = objects.find((o) => o.kind === "Secret");
  assertEquals(
    hook.clientConfig.caBundle,
    secret.data["ca.crt"],
    "the caBundle is the CA that signed the webhook's certificate",
  );
  const driver = objects.find((o) => o.kind === "CSIDriver");
  assertEquals([
    driver.spec.podInfoOnMount,
    driver.spec.requiresRepublish,
    driver.spec.attachRequired,
  ], [true, true, false]);
  assertEquals(driver.spec.volumeLifecycleModes, ["Ephemeral"]);
  const settings = objects.find((o) => o.kind === "ConfigMap");
  assertStringIncludes(
    settings.data["webhook.yaml"],
    "connectionConfiguration: DiscoverLocalStronghold",
  );
  // The server's limits reach the webhook's settings (docs/webhook.md lists them).
  assertStringIncludes(settings.data["webhook.yaml"], "maxConnections: 1000");
});

Deno.test("hostNetwork and pull secrets for the product image render valid Pods", async () => {
  await env.kube.api("POST", "/api/v1/namespaces", { metadata: { name: NS } }, [409]);
  const r = await template(
    "--set",
    "webhook.hostNetwork=true,csi.hostNetwork=true,webhook.port=9443",
    "--set",
    "image.pullSecrets={regcred,mirror}",
  );
  assertEquals(r.code, 0, r.stderr);
  const objects = parseAllDocuments(r.stdout).map((d) => d.toJS()).filter((o) => o);
  for (const kind of ["Deployment", "DaemonSet"]) {
    const o = objects.find((x) => x.kind === kind);
    const spec = o.spec.template.spec;
    assertEquals([spec.hostNetwork, spec.dnsPolicy], [true, "ClusterFirstWithHostNet"], kind);
    assertEquals(spec.imagePullSecrets, [{ name: "regcred" }, { name: "mirror" }], kind);
    const res = await dryRunApply(o);
    assert(res.status === 200 || res.status === 201, `${kind}: ${res.status} ${res.body}`);
  }
  const webhook = objects.find((x) => x.kind === "Deployment").spec.template.spec.containers[0];
  assertArrayIncludes(webhook.args, ["--listen=0.0.0.0:9443"]);
  assertEquals(webhook.ports[0].containerPort, 9443);
});

Deno.test("the rendered settings are what webhook serve and csi serve accept, CA certificates included", async () => {
  const caFile = `${env.dir}/chart-ca.pem`;
  await Deno.writeTextFile(caFile, env.bao.caCert);
  for (
    const args of [
      [],
      [
        "--set",
        "connectionConfiguration=Manual",
        "--set",
        "connection.url=https://secretstoreexample.com",
        "--set",
        "connection.authPath=main-kube",
        "--set-file",
        `connection.caCert=${caFile}`,
        "--set-file",
        `registry.caCert=${caFile}`,
      ],
    ]
  ) {
    const r = await template("-s", "templates/settings.yaml", ...args);
    assertEquals(r.code, 0, r.stderr);
    const cm = parseAllDocuments(r.stdout).map((d) => d.toJS()).find((o) =>
      o?.kind === "ConfigMap"
    );
    const webhook = parseWebhookSettings(cm.data["webhook.yaml"], "webhook.yaml");
    const csi = ConnectionSettingsSchema.parse(parse(cm.data["csi.yaml"]));
    if (args.length) {
      assertEquals([webhook.connection.url, webhook.connection.authPath], [
        "https://secretstoreexample.com",
        "main-kube",
      ]);
      assertEquals(webhook.connection.caCert?.trim(), env.bao.caCert.trim());
      assertEquals(webhook.registry.caCert?.trim(), env.bao.caCert.trim());
      assertEquals(csi.connection.caCert?.trim(), env.bao.caCert.trim());
    } else {
      assertEquals(csi.connectionConfiguration, "DiscoverLocalStronghold");
    }
  }
});

Deno.test("csi.kubeletDir sets the driver's --kubelet-dir, its state folder and its mount of the kubelet folder", async () => {
  const r = await template("--set", "csi.kubeletDir=/data/kubelet");
  assertEquals(r.code, 0, r.stderr);
  const objects = parseAllDocuments(r.stdout).map((d) => d.toJS()).filter((o) => o);
  const spec = objects.find((x) => x.kind === "DaemonSet").spec.template.spec;
  const args: string[] = spec.containers[0].args;
  assertArrayIncludes(args, ["--kubelet-dir=/data/kubelet"]);
  assert(
    args.includes("--state-dir=/data/kubelet/plugins/secrets-store.csi.deckhouse.io/state"),
    args.join(" "),
  );
  const volume = spec.volumes.find((v: { name: string }) => v.name === "kubelet-dir");
  assertEquals(volume.hostPath.path, "/data/kubelet");
  const mount = spec.containers[0].volumeMounts.find((m: { name: string }) =>
    m.name === "kubelet-dir"
  );
  assertEquals([mount.mountPath, mount.mountPropagation], ["/data/kubelet", "Bidirectional"]);
});

Deno.test("connection.allowInsecureHttp is off by default and reaches both settings files when set", async () => {
  const render = async (...args: string[]) => {
    const r = await template("-s", "templates/settings.yaml", ...args);
    assertEquals(r.code, 0, r.stderr);
    const cm = parseAllDocuments(r.stdout).map((d) => d.toJS()).find((o) =>
      o?.kind === "ConfigMap"
    );
    return {
      webhook: () => parseWebhookSettings(cm.data["webhook.yaml"], "webhook.yaml"),
      csi: () => ConnectionSettingsSchema.safeParse(parse(cm.data["csi.yaml"])),
    };
  };
  const http = ["--set", "connectionConfiguration=Manual", "--set", "connection.url=http://s:8200"];
  const strict = await render(...http);
  let refused = "";
  try {
    strict.webhook();
  } catch (e) {
    refused = (e as Error).message;
  }
  assertStringIncludes(refused, 'connection.url: Invalid store address "http://s:8200"');
  assertEquals(strict.csi().success, false);
  const lax = await render(...http, "--set", "connection.allowInsecureHttp=true");
  assertEquals(lax.webhook().connection.allowInsecureHttp, true);
  assertEquals(lax.csi().data?.connection.allowInsecureHttp, true);
});

Deno.test("the chart's version and appVersion are the product's version (deno.json), the one place it is set", async () => {
  const chart = parse(await Deno.readTextFile(`${CHART}/Chart.yaml`));
  assertEquals([chart.version, chart.appVersion], [VERSION, VERSION]);
  // The image tag defaults to appVersion, so the image follows too.
  const r = await template("-s", "templates/webhook.yaml");
  assertEquals(r.code, 0, r.stderr);
  assertStringIncludes(r.stdout, `secrets-store:${VERSION}`);
});

Deno.test("injector.delivery auto picks image volumes from Kubernetes 1.35 on and the copy before; a bad value is refused naming it", async () => {
  const delivery = async (...args: string[]) => {
    const r = await template("-s", "templates/settings.yaml", ...args);
    assertEquals(r.code, 0, r.stderr);
    const cm = parseAllDocuments(r.stdout).map((d) => d.toJS()).find((o) =>
      o?.kind === "ConfigMap"
    );
    return parseWebhookSettings(cm.data["webhook.yaml"], "webhook.yaml").injector.delivery;
  };
  assertEquals(await delivery("--kube-version", "1.35.0"), "imageVolume");
  assertEquals(await delivery("--kube-version", "1.36.3"), "imageVolume");
  assertEquals(await delivery("--kube-version", "1.34.2"), "copy");
  assertEquals(
    await delivery("--kube-version", "1.36.0", "--set", "injector.delivery=copy"),
    "copy",
  );
  const bad = await template("--set", "injector.delivery=sideways");
  assert(bad.code !== 0);
  assertStringIncludes(
    bad.stderr,
    'injector.delivery must be auto, imageVolume or copy, not "sideways"',
  );
});
