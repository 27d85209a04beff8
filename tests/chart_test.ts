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
import { runHelm } from "./harness/helm.ts";
import { ROOT } from "./harness/process.ts";
import { ConnectionSettingsSchema } from "../lib/config/connection.ts";
import { parseWebhookSettings } from "../lib/webhook/settings.ts";
import { VERSION } from "../lib/version.ts";

const env = testEnv();
const CHART = `${ROOT}/deploy/helm/secrets-store`;
const NS = "d8-secrets-store-integration";

const helm = (...args: string[]) => runHelm(env.dir, ...args);

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

/** A kubeconfig for helm, as the admin of the test's kube-apiserver. */
async function adminKubeconfig(): Promise<string> {
  const file = `${env.dir}/chart-kubeconfig.json`;
  await Deno.writeTextFile(
    file,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{
        name: "t",
        cluster: { server: env.kube.url, "certificate-authority": env.kube.caFile },
      }],
      users: [{ name: "admin", user: { token: env.kube.adminToken } }],
      contexts: [{ name: "t", context: { cluster: "t", user: "admin" } }],
      "current-context": "t",
    }),
  );
  return file;
}

// Before the dry-run test below, which creates namespace d8-stronghold in this API server.
Deno.test("a plain install without namespace d8-stronghold makes no Role there and NOTES.txt says what to do", async () => {
  const kubeconfig = await adminKubeconfig();
  await env.kube.api("POST", "/api/v1/namespaces", { metadata: { name: NS } }, [409]);
  const install = (...args: string[]) =>
    helm(
      "install",
      "secrets-store",
      CHART,
      "--namespace",
      NS,
      `--kubeconfig=${kubeconfig}`,
      "--dry-run=server",
      ...args,
    );
  const ns = await env.kube.api("GET", "/api/v1/namespaces/d8-stronghold", undefined, [404]) as {
    code?: number;
  };
  assertEquals(ns.code, 404, "this test runs before namespace d8-stronghold is made");
  const r = await install();
  assertEquals(r.code, 0, r.stderr);
  const [manifest, notes] = r.stdout.split("\nNOTES:\n");
  assert(notes, r.stdout.slice(-2000));
  assert(
    !manifest!.includes("namespace: d8-stronghold"),
    "a Role in a namespace that is not there",
  );
  assertStringIncludes(notes, "no Role to read Stronghold's CA");
  assertStringIncludes(notes, "namespace d8-stronghold does not exist");
  assertStringIncludes(notes, "connectionConfiguration=Manual");
  assertStringIncludes(notes, "helm test secrets-store -n " + NS);
  await env.kube.api("POST", "/api/v1/namespaces", { metadata: { name: "d8-stronghold" } }, [409]);
  const found = await install();
  assertEquals(found.code, 0, found.stderr);
  assertStringIncludes(found.stdout, "namespace: d8-stronghold");
  assert(!found.stdout.includes("no Role to read Stronghold's CA"));
  const never = await install("--set", "strongholdCaRole=never");
  assert(!never.stdout.split("\nNOTES:\n")[0]!.includes("namespace: d8-stronghold"));
  assertStringIncludes(never.stdout, "(strongholdCaRole=never)");
  const manual = await install(
    "--set",
    "connectionConfiguration=Manual,connection.url=https://secretstoreexample.com",
  );
  assert(!manual.stdout.includes("namespace: d8-stronghold"));
  assertStringIncludes(manual.stdout, "Store: https://secretstoreexample.com (Manual)");
});

Deno.test("every rendered object passes the API server's validation (server-side dry run)", async () => {
  for (const ns of [NS, "d8-stronghold"]) {
    await env.kube.api("POST", "/api/v1/namespaces", { metadata: { name: ns } }, [409]);
  }
  // `helm template` cannot look namespaces up: the Role in d8-stronghold is forced here.
  const r = await template("--include-crds", "--set", "strongholdCaRole=always");
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
      "Pod",
      "PodDisruptionBudget",
      "ResourceQuota",
      "Role",
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
  const roles = objects.filter((o) => o.kind === "Role").map((o) => o.metadata.namespace);
  assert(roles.includes("d8-stronghold"), `Roles in ${roles}`);
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
  const delivery = async (...args: string[]) => (await webhookSettings(...args)).injector.delivery;
  assertEquals(await delivery("--kube-version", "1.35.0"), "imageVolume");
  assertEquals(await delivery("--kube-version", "1.36.3"), "imageVolume");
  assertEquals(await delivery("--kube-version", "1.34.2"), "copy");
  assertEquals(
    await delivery("--kube-version", "1.36.0", "--set", "injector.delivery=copy"),
    "copy",
  );
  const bad = await template("--set", "injector.delivery=sideways");
  assert(bad.code !== 0);
  assertStringIncludes(bad.stderr, "at '/injector/delivery': value must be one of 'auto'");
});

Deno.test("injector.revokeToken reaches the webhook's settings, on by default; a non-boolean is refused naming it", async () => {
  const revoke = async (...args: string[]) => (await webhookSettings(...args)).injector.revokeToken;
  assertEquals(await revoke(), true);
  assertEquals(await revoke("--set", "injector.revokeToken=false"), false);
  const bad = await template("--set-string", "injector.revokeToken=no");
  assert(bad.code !== 0);
  assertStringIncludes(bad.stderr, "/injector/revokeToken");
});

/** The webhook's settings as the chart renders them with `args`, read by the webhook's parser. */
async function webhookSettings(...args: string[]) {
  const r = await template("-s", "templates/settings.yaml", ...args);
  assertEquals(r.code, 0, r.stderr);
  const cm = parseAllDocuments(r.stdout).map((d) => d.toJS()).find((o) => o?.kind === "ConfigMap");
  return parseWebhookSettings(cm.data["webhook.yaml"], "webhook.yaml");
}

/** The objects of `helm template` with `args`; fails the test when rendering fails. */
async function render(...args: string[]): Promise<K8sObject[]> {
  const r = await template(...args);
  assertEquals(r.code, 0, r.stderr);
  return parseAllDocuments(r.stdout).map((d) => d.toJS()).filter((o) => o);
}

// deno-lint-ignore no-explicit-any
type K8sObject = any;

function only(objects: K8sObject[], kind: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind);
  assertEquals(found.length, 1, `${kind}: ${found.length} rendered`);
  return found[0];
}

function kindsOf(objects: K8sObject[]): string[] {
  return [...new Set(objects.map((o) => o.kind))].sort();
}

/** Every object applied with a server-side dry run; the hook Pod's ServiceAccount is made for
 * real first (a dry run of a Pod needs its ServiceAccount to exist). */
async function assertAdmitted(objects: K8sObject[]) {
  await env.kube.api("POST", "/api/v1/namespaces", { metadata: { name: NS } }, [409]);
  for (const o of objects) {
    if (o.kind === "Pod") {
      await env.kube.api("POST", `/api/v1/namespaces/${NS}/serviceaccounts`, {
        metadata: { name: o.spec.serviceAccountName },
      }, [409]);
    }
    const res = await dryRunApply(o);
    assert(
      res.status === 200 || res.status === 201,
      `${o.kind} ${o.metadata.name}: HTTP ${res.status} ${res.body.slice(0, 400)}`,
    );
  }
}

/** Values the schema refuses, each with the value's path in helm's message. */
const REFUSED: Array<[string[], string]> = [
  [["--set", "webhook.replicas=two"], "at '/webhook/replicas': got string, want integer"],
  [["--set", "webhook.replicas=0"], "at '/webhook/replicas': minimum: got 0, want 1"],
  [["--set", "webhook.pdb.enabled=sometimes"], "at '/webhook/pdb/enabled': value must be one of"],
  [["--set", "webhook.failurePolicy=fail"], "at '/webhook/failurePolicy': value must be one of"],
  [["--set", "webhook.timeoutSeconds=31"], "at '/webhook/timeoutSeconds': maximum"],
  [["--set", "webhook.nodeSelektor.a=b"], "at '/webhook': additional properties 'nodeSelektor'"],
  [["--set", "webhok.enabled=false"], "additional properties 'webhok' not allowed"],
  [["--set", "log.level=verbose"], "at '/log/level': value must be one of 'debug'"],
  [["--set", "log.format=xml"], "at '/log/format': value must be one of 'json', 'text'"],
  [["--set", "csi.rotationInterval=2min"], "at '/csi/rotationInterval': '2min' does not match"],
  [["--set", "csi.volumeSize=4MB"], "at '/csi/volumeSize': '4MB' does not match"],
  [["--set", "csi.tolerations[0].operator=Exist"], "at '/csi/tolerations/0/operator'"],
  [["--set", "csi.env[0].value=x"], "at '/csi/env/0': missing property 'name'"],
  [["--set", "webhook.podLabels.app\\.kubernetes\\.io/component=x"], "at '/webhook/podLabels'"],
  [["--set", "csi.podLabels.a\\ b=x"], "at '/csi/podLabels': additional properties 'a b'"],
  [["--set", "webhook.tls.existingSecret=My_Cert"], "at '/webhook/tls/existingSecret'"],
  [["--set", "webhook.tls.caBundle=not-a-pem"], "at '/webhook/tls/caBundle'"],
  [["--set", "strongholdCaRole=yes"], "at '/strongholdCaRole': value must be one of 'auto'"],
  [["--set", "connectionConfiguration=manual"], "at '/connectionConfiguration'"],
  [["--set", "connection.url=stronghold:8200"], "at '/connection/url'"],
  [["--set", "image.pullPolicy=Sometimes"], "at '/image/pullPolicy'"],
  [["--set", "webhook.priorityClassName=Critical"], "at '/webhook/priorityClassName'"],
  [["--set", "test.timeout=soon"], "at '/test/timeout'"],
];

Deno.test("the schema refuses bad values at helm template and helm lint, naming each value", async () => {
  for (const [args, want] of REFUSED) {
    const r = await template(...args);
    assert(r.code !== 0, `${args.join(" ")} was accepted`);
    assertStringIncludes(r.stderr, want, args.join(" "));
  }
  const lint = await helm("lint", CHART, "--set", "webhook.replicas=two");
  assert(lint.code !== 0, lint.stdout);
  assertStringIncludes(lint.stdout + lint.stderr, "at '/webhook/replicas'");
});

Deno.test("helm lint passes with every switch", async () => {
  for (
    const set of [
      "webhook.enabled=false",
      "csi.enabled=false",
      "webhook.pdb.enabled=true,webhook.replicas=1",
      "webhook.certManager.enabled=true",
      "criticalPodsQuota.enabled=false,rbac.aggregateToDefaultRoles=false",
      "log.level=debug,log.format=text",
    ]
  ) {
    const r = await helm("lint", CHART, "--set", set);
    assertEquals(r.code, 0, `${set}: ${r.stdout}${r.stderr}`);
  }
});

Deno.test("webhook.enabled=false installs only the CSI driver, and the API server admits it", async () => {
  const objects = await render("--set", "webhook.enabled=false");
  const kinds = kindsOf(objects);
  for (
    const k of [
      "Deployment",
      "MutatingWebhookConfiguration",
      "Service",
      "Secret",
      "PodDisruptionBudget",
    ]
  ) {
    assert(!kinds.includes(k), `${k} rendered: ${kinds}`);
  }
  only(objects, "DaemonSet");
  only(objects, "CSIDriver");
  const test = only(objects, "Pod");
  assert(!test.spec.containers[0].args.some((a: string) => a.startsWith("--webhook")));
  assert(test.spec.containers[0].args.includes("--csi-driver=secrets-store.csi.deckhouse.io"));
  await assertAdmitted(objects);
});

Deno.test("csi.enabled=false installs only the webhook, and the API server admits it", async () => {
  const objects = await render("--set", "csi.enabled=false");
  const kinds = kindsOf(objects);
  for (const k of ["DaemonSet", "CSIDriver"]) assert(!kinds.includes(k), `${k} rendered`);
  only(objects, "Deployment");
  only(objects, "MutatingWebhookConfiguration");
  const args: string[] = only(objects, "Pod").spec.containers[0].args;
  assert(args.includes("--webhook=secrets-store-webhook"), args.join(" "));
  assert(!args.some((a) => a.startsWith("--csi-driver")), args.join(" "));
  // Only the webhook's critical class needs the quota.
  assertEquals(
    only(objects, "ResourceQuota").spec.scopeSelector.matchExpressions[0].values,
    ["system-cluster-critical"],
  );
  await assertAdmitted(objects);
  const none = await template("--set", "csi.enabled=false,webhook.enabled=false");
  assert(none.code !== 0);
  assertStringIncludes(none.stderr, "webhook.enabled and csi.enabled are both false");
});

Deno.test("the PodDisruptionBudget is made only with replicas > 1 or webhook.pdb.enabled, and never blocks a drain", async () => {
  const pdbs = async (set: string) =>
    (await render("--set", set)).filter((o) => o.kind === "PodDisruptionBudget");
  assertEquals((await pdbs("webhook.replicas=1")).length, 0, "replicas 1");
  assertEquals((await pdbs("webhook.replicas=2,webhook.pdb.enabled=false")).length, 0);
  for (const set of ["webhook.replicas=2", "webhook.replicas=1,webhook.pdb.enabled=true"]) {
    const found = await pdbs(set);
    assertEquals(found.length, 1, set);
    // One Pod may always be evicted: a drain waits for a replacement, never forever.
    assertEquals([found[0].spec.maxUnavailable, found[0].spec.minAvailable], [1, undefined]);
    await assertAdmitted(found);
  }
});

Deno.test("a bring-your-own TLS Secret: no Secret is made, the Deployment mounts it, the caBundle is its CA", async () => {
  const caFile = `${env.dir}/byo-ca.pem`;
  await Deno.writeTextFile(caFile, env.kube.caCert);
  const objects = await render(
    "--set",
    "webhook.tls.existingSecret=my-webhook-cert",
    "--set-file",
    `webhook.tls.caBundle=${caFile}`,
  );
  assert(!kindsOf(objects).includes("Secret"), kindsOf(objects).join(" "));
  const tls = only(objects, "Deployment").spec.template.spec.volumes.find((
    v: { name: string },
  ) => v.name === "tls");
  assertEquals(tls.secret.secretName, "my-webhook-cert");
  const hook = only(objects, "MutatingWebhookConfiguration").webhooks[0];
  assertEquals(atob(hook.clientConfig.caBundle), env.kube.caCert);
  await assertAdmitted(objects);
  const noCa = await template("--set", "webhook.tls.existingSecret=my-webhook-cert");
  assert(noCa.code !== 0);
  assertStringIncludes(
    noCa.stderr,
    "webhook.tls.caBundle is required with webhook.tls.existingSecret",
  );
  const both = await template(
    "--set",
    "webhook.tls.existingSecret=c,webhook.certManager.enabled=true",
    "--set-file",
    `webhook.tls.caBundle=${caFile}`,
  );
  assert(both.code !== 0);
  assertStringIncludes(both.stderr, "webhook.tls.existingSecret and webhook.certManager.enabled");
});

Deno.test("cert-manager: a Certificate and the CA injection annotation, no generated Secret or caBundle", async () => {
  const objects = await render("--set", "webhook.certManager.enabled=true");
  assert(!kindsOf(objects).includes("Secret"));
  only(objects, "Certificate");
  const mwc = only(objects, "MutatingWebhookConfiguration");
  assertEquals(
    mwc.metadata.annotations["cert-manager.io/inject-ca-from"],
    `${NS}/secrets-store-webhook`,
  );
  assertEquals(mwc.webhooks[0].clientConfig.caBundle, undefined);
});

Deno.test("scheduling, env, annotations and labels reach the Pods; the defaults fit a plain cluster", async () => {
  const defaults = await render();
  const web = only(defaults, "Deployment").spec.template.spec;
  const csi = only(defaults, "DaemonSet").spec.template.spec;
  assertEquals([web.priorityClassName, csi.priorityClassName], [
    "system-cluster-critical",
    "system-node-critical",
  ]);
  assertEquals([web.nodeSelector, csi.nodeSelector], [{ "kubernetes.io/os": "linux" }, {
    "kubernetes.io/os": "linux",
  }]);
  assertEquals(csi.tolerations, [{ operator: "Exists" }], "the driver runs on every node");
  assertEquals(web.tolerations, undefined);
  const args: string[] = csi.containers[0].args;
  assert(args.includes("--log-level=info") && args.includes("--json-log"), args.join(" "));
  // Monitoring is off by default: nothing for a Prometheus operator is rendered.
  for (const k of ["ServiceMonitor", "PodMonitor"]) assert(!kindsOf(defaults).includes(k));

  const values = `${env.dir}/chart-fit.yaml`;
  await Deno.writeTextFile(
    values,
    JSON.stringify({
      log: { level: "debug", format: "text" },
      webhook: {
        priorityClassName: "",
        tolerations: [{
          key: "dedicated",
          operator: "Equal",
          value: "infra",
          effect: "NoSchedule",
        }],
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [{
                matchExpressions: [{ key: "node-role", operator: "In", values: ["infra"] }],
              }],
            },
          },
        },
        env: [{ name: "HTTPS_PROXY", value: "http://proxy:3128" }, {
          name: "NO_PROXY",
          value: ".svc,10.0.0.1",
        }],
        podAnnotations: { "example.com/team": "platform" },
        podLabels: { team: "platform" },
        serviceAccount: { annotations: { "example.com/role": "webhook" } },
      },
      csi: {
        nodeSelector: { "kubernetes.io/os": "linux", "node-role": "apps" },
        tolerations: [],
        env: [{ name: "HTTPS_PROXY", value: "http://proxy:3128" }],
        podAnnotations: { "example.com/team": "storage" },
        podLabels: { team: "storage" },
        serviceAccount: { annotations: { "example.com/role": "csi" } },
      },
    }),
  );
  const fit = await render("-f", values);
  const dep = only(fit, "Deployment");
  const ds = only(fit, "DaemonSet");
  const w = dep.spec.template;
  assertEquals(w.spec.priorityClassName, undefined);
  assertEquals(w.spec.tolerations[0].key, "dedicated");
  assert(w.spec.affinity.nodeAffinity);
  assertEquals(w.spec.containers[0].env.map((e: { name: string }) => e.name), [
    "HTTPS_PROXY",
    "NO_PROXY",
  ]);
  assertEquals(w.metadata.annotations["example.com/team"], "platform");
  assert(w.metadata.annotations["checksum/settings"], "the settings checksum stays");
  assertEquals(w.metadata.labels.team, "platform");
  assertEquals(w.metadata.labels["app.kubernetes.io/component"], "webhook");
  const webArgs: string[] = w.spec.containers[0].args;
  assert(webArgs.includes("--log-level=debug") && !webArgs.includes("--json-log"));
  const d = ds.spec.template;
  assertEquals(d.spec.nodeSelector["node-role"], "apps");
  assertEquals(d.spec.tolerations, undefined, "an empty list keeps the driver off tainted nodes");
  assertEquals(d.spec.containers[0].env.map((e: { name: string }) => e.name), [
    "NODE_NAME",
    "HTTPS_PROXY",
  ]);
  assertEquals(d.metadata.labels.team, "storage");
  const sas = fit.filter((o) => o.kind === "ServiceAccount");
  assertEquals(
    sas.map((o) => o.metadata.annotations?.["example.com/role"]).filter((x) => x).sort(),
    ["csi", "webhook"],
  );
  // The quota follows the classes in use: only the driver's now.
  assertEquals(
    only(fit, "ResourceQuota").spec.scopeSelector.matchExpressions[0].values,
    ["system-node-critical"],
  );
  await assertAdmitted([dep, ds, ...sas, only(fit, "ResourceQuota")]);
});

Deno.test("aggregated ClusterRoles let namespace users read (view) and manage (edit, admin) SecretsStoreImports", async () => {
  const objects = await render();
  const roles = objects.filter((o) =>
    o.kind === "ClusterRole" &&
    o.rules.some((r: { resources: string[] }) => r.resources.includes("secretsstoreimports"))
  );
  const by = (label: string) =>
    roles.filter((r) => r.metadata.labels[`rbac.authorization.k8s.io/${label}`] === "true");
  assertEquals(by("aggregate-to-view")[0].rules[0].verbs, ["get", "list", "watch"]);
  for (const l of ["aggregate-to-edit", "aggregate-to-admin"]) {
    assert(by(l)[0].rules[0].verbs.includes("create"), l);
  }
  await assertAdmitted(roles);
  const off = await render("--set", "rbac.aggregateToDefaultRoles=false");
  assert(!off.some((o) => JSON.stringify(o.metadata.labels ?? {}).includes("aggregate-to")));
});

Deno.test("the CRD shows the role, the files and the age in kubectl get", async () => {
  const crd = parse(
    await Deno.readTextFile(`${CHART}/crds/secretsstoreimports.deckhouse.io.yaml`),
  );
  const v = crd.spec.versions[0];
  assertEquals(v.name, "v1alpha1");
  assertEquals(
    v.additionalPrinterColumns.map((c: { name: string; jsonPath: string }) => [c.name, c.jsonPath]),
    [
      ["Role", ".spec.role"],
      ["Files", ".spec.files[*].name"],
      ["Age", ".metadata.creationTimestamp"],
    ],
  );
});

/** `secrets-store check-install` (the helm test's command) as the admin of the test API server. */
async function checkInstall(...args: string[]) {
  const tokenFile = `${env.dir}/chart-admin-token`;
  await Deno.writeTextFile(tokenFile, env.kube.adminToken);
  const out = await new Deno.Command(env.binary, {
    args: [
      "check-install",
      `--kube-server=${env.kube.url}`,
      `--kube-token-file=${tokenFile}`,
      `--kube-ca-file=${env.kube.caFile}`,
      ...args,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("check-install fails within its --timeout naming what is missing: no CSIDriver, no registration on the node, no webhook", async () => {
  const driver = "check.csi.example.com";
  const absent = await checkInstall(`--csi-driver=${driver}`, "--node=n1", "--timeout=3s");
  assertEquals(absent.code, 1, absent.stderr);
  assertStringIncludes(absent.stderr, `CSIDriver ${driver}:`);
  assertStringIncludes(absent.stderr, "not found");
  await env.kube.api("POST", "/apis/storage.k8s.io/v1/csidrivers", {
    metadata: { name: driver },
    spec: { attachRequired: false },
  }, [409]);
  const unregistered = await checkInstall(`--csi-driver=${driver}`, "--node=n1", "--timeout=3s");
  assertEquals(unregistered.code, 1, unregistered.stderr);
  assertStringIncludes(unregistered.stderr, "CSIDriver exists");
  assertStringIncludes(unregistered.stderr, `driver ${driver} in CSINode n1:`);
  const hook = await checkInstall("--webhook=no-such-webhook", "--timeout=2s");
  assertEquals(hook.code, 1, hook.stderr);
  assertStringIncludes(hook.stderr, "MutatingWebhookConfiguration no-such-webhook:");
  const usage = await checkInstall("--timeout=2s");
  assertEquals(usage.code, 2);
  assertStringIncludes(usage.stderr, "give --webhook, --csi-driver or both");
  const bad = await checkInstall("--csi-driver=a/../b", "--node=n1");
  assertEquals(bad.code, 1);
  assertStringIncludes(bad.stderr, '--csi-driver: "a/../b" is not a valid object name');
});

/** The leaf values of values.yaml, by dotted path: a map is descended into when the schema
 * lists its keys and it holds some; free maps and lists are leaves. */
function leafValues(
  value: unknown,
  schema: Record<string, unknown>,
  defs: Record<string, Record<string, unknown>>,
  path: string[] = [],
  out = new Map<string, unknown>(),
): Map<string, unknown> {
  let s = schema;
  while (typeof s.$ref === "string") s = defs[s.$ref.split("/").pop()!]!;
  const props = s.properties as Record<string, Record<string, unknown>> | undefined;
  const isMap = value !== null && typeof value === "object" && !Array.isArray(value);
  if (isMap && props && Object.keys(value).length > 0) {
    for (const [k, v] of Object.entries(value)) {
      assert(props[k], `values.yaml: ${[...path, k].join(".")} is not in values.schema.json`);
      leafValues(v, props[k]!, defs, [...path, k], out);
    }
  } else {
    out.set(path.join("."), value);
  }
  return out;
}

Deno.test("docs/values.md lists every value of values.yaml with its default, and the schema knows each", async () => {
  const values = parse(await Deno.readTextFile(`${CHART}/values.yaml`));
  const schema = JSON.parse(await Deno.readTextFile(`${CHART}/values.schema.json`));
  const leaves = leafValues(values, schema, schema.definitions);
  const doc = await Deno.readTextFile(`${ROOT}/docs/values.md`);
  const rows = new Map<string, unknown>();
  for (const m of doc.matchAll(/^\| `([^`]+)` \| `([^`]*)` \|/gm)) {
    assert(!rows.has(m[1]!), `docs/values.md lists ${m[1]} twice`);
    rows.set(m[1]!, parse(m[2]!) ?? "");
  }
  const missing = [...leaves.keys()].filter((k) => !rows.has(k));
  const extra = [...rows.keys()].filter((k) => !leaves.has(k));
  assertEquals(
    [missing, extra],
    [[], []],
    "values missing from docs/values.md, and rows of no value",
  );
  for (const [k, v] of leaves) {
    assertEquals(rows.get(k), v, `the default of ${k} in docs/values.md`);
  }
  // The schema accepts the defaults (helm lint also checks), and lists nothing values.yaml lacks
  // but the monitoring block its own templates define.
  const unknown = Object.keys(schema.properties).filter((k) => !(k in values));
  assertEquals(unknown.filter((k) => k !== "monitoring"), []);
});
