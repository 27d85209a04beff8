/** `secrets-store webhook serve` called by the real kube-apiserver: Pods created through the
 * API come back mutated, denied with a reason, or untouched. */
import { assert, assertEquals, assertStringIncludes } from "./harness/assert.ts";
import { testEnv } from "./harness/env.ts";
import {
  certSerial,
  registerWebhook,
  servedSerial,
  startWebhook,
  type WebhookServer,
} from "./harness/webhook.ts";
import { waitUntil } from "./harness/process.ts";
import { Suite } from "./harness/suite.ts";
import { type Registry, startRegistry } from "./harness/registry.ts";
import { WEBHOOK_USER } from "./harness/kube.ts";
import { VERSION } from "../lib/version.ts";
import { auditMark, describeRequests, requestsSince } from "./harness/kube_audit.ts";
import { waitForEvent } from "./harness/kube_events.ts";

const env = testEnv();
const NS = "webhook-test";
/** Another tenant: its pull secret can read the private registry, so a name that escaped the
 * Pod's namespace into it would show (the webhook's user may read every namespace). */
const OTHER_NS = "webhook-test-other";
const LABEL = "secrets-store-webhook-test";
const A = "secrets-store.deckhouse.io/";
const LAUNCH = ["/run/secrets-store/secrets-store", "inject", "--"];

/** Images in a private registry (password auth on every request, TLS with its own CA). */
const IMAGES = {
  app: { entrypoint: ["/docker-entrypoint.sh"], cmd: ["nginx", "-g", "daemon off;"] },
  amd64: { entrypoint: ["/bin/app-amd64"], cmd: ["serve"], architecture: "amd64" },
  arm64: { entrypoint: ["/bin/app-arm64"], cmd: ["serve"], architecture: "arm64" },
};
let registry: Registry;

/** The private registry and the webhook registered with the API server, with the namespaces,
 * pull secrets and ServiceAccounts the tests use; stopped after the last test that runs. */
const suite = new Suite<WebhookServer>({
  setUp: async () => {
    registry = await startRegistry(env.dir);
    await registry.push.image("team/app", "1.0", IMAGES.app);
    await registry.push.index("team/multi", "2.0", [IMAGES.arm64, IMAGES.amd64]);
    const w = await startWebhook({
      dir: env.dir,
      settings: [
        "connectionConfiguration: Manual",
        "connection:",
        `  url: ${env.bao.address}`,
        "  authPath: kubernetes_local",
        "  caCert: |",
        ...env.bao.caCert.trim().split("\n").map((l) => `    ${l}`),
        "injector:",
        "  image: registry.local/secrets-store:test",
        "registry:",
        "  platform: linux/amd64",
        "  caCert: |",
        ...registry.caCert.trim().split("\n").map((l) => `    ${l}`),
      ].join("\n"),
      kube: { url: env.kube.url, caFile: env.kube.caFile, token: env.kube.webhookToken },
      // Two serving threads (--workers): every test here goes through both.
      workers: 2,
    });
    await env.kube.api("POST", "/api/v1/namespaces", {
      metadata: { name: NS, labels: { [LABEL]: "enabled" } },
    });
    const auths = {
      [registry.host]: { username: registry.user.username, password: registry.user.password },
    };
    await env.kube.api("POST", `/api/v1/namespaces/${NS}/secrets`, {
      metadata: { name: "regcred" },
      type: "kubernetes.io/dockerconfigjson",
      data: { ".dockerconfigjson": btoa(JSON.stringify({ auths })) },
    });
    await env.kube.api("POST", `/api/v1/namespaces/${NS}/serviceaccounts`, {
      metadata: { name: "puller" },
      imagePullSecrets: [{ name: "regcred" }],
    });
    await env.kube.api("POST", "/api/v1/namespaces", { metadata: { name: OTHER_NS } });
    for (const ns of [NS, OTHER_NS]) {
      await env.kube.api("POST", `/api/v1/namespaces/${ns}/secrets`, {
        metadata: { name: ns === NS ? "regcred-audit" : "regcred" },
        type: "kubernetes.io/dockerconfigjson",
        data: { ".dockerconfigjson": btoa(JSON.stringify({ auths })) },
      });
    }
    await env.kube.api("POST", `/api/v1/namespaces/${OTHER_NS}/serviceaccounts`, {
      metadata: { name: "puller" },
      imagePullSecrets: [{ name: "regcred" }],
    });
    await env.kube.api("POST", `/api/v1/namespaces/${NS}/serviceaccounts`, {
      metadata: { name: "puller-audit" },
      imagePullSecrets: [{ name: "regcred" }],
    });
    // The API server does not check the names a ServiceAccount lists, so whoever may edit
    // ServiceAccounts in a namespace can write this one.
    await env.kube.api("POST", `/api/v1/namespaces/${NS}/serviceaccounts`, {
      metadata: { name: "puller-hostile" },
      imagePullSecrets: [{ name: `../../${OTHER_NS}/secrets/regcred` }, { name: "regcred?x=1" }],
    });
    await registerWebhook(env.kube, w, LABEL);
    return w;
  },
  tearDown: async (w) => {
    await env.kube.api(
      "DELETE",
      `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/secrets-store-${LABEL}`,
    );
    await env.kube.api("DELETE", `/api/v1/namespaces/${OTHER_NS}`);
    await w.stop();
    await registry.stop();
  },
});
const setUp = () => suite.ready();

/** A counter of the webhook's /metrics, named without its `secrets_store_webhook_` prefix.
 * A fresh connection per read: the kernel hands each to either serving thread, and both
 * must report the same process-wide totals. */
async function counted(w: WebhookServer, name: string): Promise<number> {
  const client = Deno.createHttpClient({ caCerts: [w.caCert] });
  try {
    const text = await (await fetch(`${w.url}/metrics`, { client })).text();
    const line = text.split("\n").find((l) => l.startsWith(`secrets_store_webhook_${name} `));
    assert(line, `no ${name} in:\n${text}`);
    return Number(line.split(" ").at(-1));
  } finally {
    client.close();
  }
}

interface PodOut {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: {
    initContainers?: Array<Record<string, unknown> & { name: string }>;
    containers: Array<
      & {
        name: string;
        command?: string[];
        args?: string[];
        env?: Array<{ name: string; value?: string }>;
      }
      & Record<
        string,
        unknown
      >
    >;
    volumes?: Array<{ name: string }>;
  };
}

let n = 0;
/** Creates a Pod through the API; returns the stored Pod, or the API's refusal. */
async function createPod(
  containers: unknown[],
  annotations: Record<string, string> = { [A + "role"]: "myapp-role" },
  extra: Record<string, unknown> = {},
): Promise<{ pod?: PodOut; denied?: string | undefined }> {
  await setUp();
  const res = await env.kube.api<PodOut & { message?: string; code?: number }>(
    "POST",
    `/api/v1/namespaces/${NS}/pods`,
    { metadata: { name: `p${++n}`, annotations }, spec: { containers, ...extra } },
    [400, 403, 500],
  );
  return res.code ? { denied: res.message } : { pod: res };
}

const envOf = (c: { env?: Array<{ name: string; value?: string }> }) =>
  Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));

suite.test("the guide's myapp2 Pod is created mutated: copy-self init container, injector command, settings", async () => {
  const { pod, denied } = await createPod([{
    name: "myapp",
    image: "alpine:3.20",
    command: ["sh", "-c", "while printenv; do sleep 5; done"],
    env: [{ name: "DB_PASS", value: "secrets-store:demo-kv/data/myapp-secret#DB_PASS" }],
  }]);
  assertEquals(denied, undefined);
  assertEquals(pod!.spec.initContainers![0]!.name, "secrets-store-copy-self");
  assertEquals(pod!.spec.initContainers![0]!.image, "registry.local/secrets-store:test");
  const c = pod!.spec.containers[0]!;
  assertEquals(c.command, [...LAUNCH, "sh", "-c", "while printenv; do sleep 5; done"]);
  const e = envOf(c);
  assertEquals(e.DB_PASS, "secrets-store:demo-kv/data/myapp-secret#DB_PASS"); // resolved at start, not stored
  assertEquals([e.SECRETS_STORE_ADDR, e.SECRETS_STORE_ROLE, e.SECRETS_STORE_AUTH_PATH], [
    env.bao.address,
    "myapp-role",
    "kubernetes_local",
  ]);
  assertStringIncludes(e.SECRETS_STORE_CA_CERT!, "BEGIN CERTIFICATE");
  assert(pod!.spec.volumes!.some((v) => v.name === "secrets-store-injector"));
});

suite.test("revocation is the installation's (injector.revokeToken, on here) unless the revoke-token annotation says otherwise; a Pod's own variable is replaced", async () => {
  const revoke = async (annotations: Record<string, string>) => {
    const { pod, denied } = await createPod([{
      name: "app",
      image: "alpine:3.20",
      command: ["sleep", "1"],
      env: [{ name: "SECRETS_STORE_REVOKE_TOKEN", value: "false" }],
    }], { [A + "role"]: "myapp-role", ...annotations });
    assertEquals(denied, undefined);
    const vars = pod!.spec.containers[0]!.env!.filter((e) =>
      e.name === "SECRETS_STORE_REVOKE_TOKEN"
    );
    return vars.map((e) => e.value);
  };
  assertEquals(await revoke({}), ["true"]);
  assertEquals(await revoke({ [A + "revoke-token"]: "false" }), ["false"]);
});

suite.test("a Pod without the role annotation is stored exactly as sent", async () => {
  const containers = [{ name: "app", image: "alpine:3.20", command: ["sleep", "1"] }];
  const { pod } = await createPod(containers, { unrelated: "x" });
  assertEquals(pod!.spec.initContainers, undefined);
  assertEquals(pod!.spec.containers[0]!.command, ["sleep", "1"]);
});

suite.test("a mutated Pod keeps text beyond Latin-1 exactly as written", async () => {
  const text = "пароль é 🔑";
  const { pod, denied } = await createPod([{
    name: "app",
    image: "alpine:3.20",
    command: ["echo", text],
    env: [{ name: "GREETING", value: text }],
  }]);
  assertEquals(denied, undefined);
  assertEquals(pod!.spec.containers[0]!.command, [...LAUNCH, "echo", text]);
  assertEquals(envOf(pod!.spec.containers[0]!).GREETING, text);
});

suite.test("a bad annotation is refused by the API with the webhook's reason", async () => {
  const { denied } = await createPod([{ name: "app", image: "alpine:3.20", command: ["true"] }], {
    [A + "role"]: "myapp-role",
    [A + "mutate-probes"]: "sometimes",
  });
  assertStringIncludes(denied!, "denied the request");
  assertStringIncludes(denied!, `${A}mutate-probes`);
});

suite.test("hostile store paths and an http address in annotations are refused, naming the annotation", async () => {
  const cases: Array<[string, string, string]> = [
    ["env-from-path", "demo-kv/data/ok,demo-kv/data/../other", 'segment ".." is not allowed'],
    ["env-from-path", "demo-kv/data/x?version=1", 'character "?"'],
    ["env-from-path", "demo-kv/data/%2e%2e/x", 'character "%"'],
    ["env-from-path", "demo-kv/data/x#latest", 'has version "latest"'],
    ["auth-path", "../../sys/raw", 'segment ".." is not allowed'],
    ["addr", "http://stronghold:8200", "connection.allowInsecureHttp"],
    ["addr", "https://user:pw@stronghold:8200", "user name or password"],
  ];
  for (const [name, value, why] of cases) {
    const { pod, denied } = await createPod(
      [{ name: "app", image: "alpine:3.20", command: ["true"] }],
      { [A + "role"]: "myapp-role", [A + name]: value },
    );
    assertEquals(pod, undefined, `${name}=${value} was admitted`);
    assertStringIncludes(denied!, `${A}${name}: `);
    assertStringIncludes(denied!, why);
  }
  const { denied } = await createPod([{ name: "app", image: "alpine:3.20", command: ["true"] }], {
    [A + "role"]: "myapp-role",
    [A + "env-from-path"]: "demo-kv/data/myapp-secret#4",
  });
  assertEquals(denied, undefined, "path#N is a valid entry");
});

suite.test("skip-mutate-containers and mutate-probes reach the stored Pod", async () => {
  const { pod } = await createPod([
    {
      name: "app",
      image: "alpine:3.20",
      command: ["run"],
      livenessProbe: { exec: { command: ["cat", "/tmp/ok"] } },
      readinessProbe: { httpGet: { path: "/", port: 80 } },
    },
    { name: "sidecar", image: "envoy", command: ["envoy"] },
  ], {
    [A + "role"]: "myapp-role",
    [A + "mutate-probes"]: "true",
    [A + "skip-mutate-containers"]: "sidecar",
  });
  const [app, sidecar] = pod!.spec.containers;
  assertEquals((app!.livenessProbe as { exec: { command: string[] } }).exec.command, [
    "/run/secrets-store/secrets-store",
    "inject",
    "--probe",
    "--",
    "cat",
    "/tmp/ok",
  ]);
  assertEquals((app!.readinessProbe as { httpGet: { path: string } }).httpGet.path, "/");
  assertEquals(sidecar!.command, ["envoy"]);
  assertEquals(envOf(sidecar!).SECRETS_STORE_ROLE, undefined);
});

suite.test("a Pod cannot allow itself the store token: its SECRETS_STORE_ALLOW_LOGIN_TOKEN is replaced, and secrets-store:login is denied", async () => {
  // The installation leaves injector.allowLoginToken at its default, false.
  const { pod, denied } = await createPod([{
    name: "app",
    image: "alpine:3.20",
    command: ["true"],
    env: [
      { name: "SECRETS_STORE_ALLOW_LOGIN_TOKEN", value: "true" },
      { name: "DB_PASS", value: "secrets-store:demo-kv/data/myapp-secret#DB_PASS" },
    ],
  }]);
  assertEquals(denied, undefined);
  const own = (pod!.spec.containers[0]!.env ?? []).filter((e) =>
    e.name === "SECRETS_STORE_ALLOW_LOGIN_TOKEN"
  );
  assertEquals(own, [{ name: "SECRETS_STORE_ALLOW_LOGIN_TOKEN", value: "false" }]);

  const asks = await createPod([{
    name: "app",
    image: "alpine:3.20",
    command: ["true"],
    env: [{ name: "VAULT_TOKEN", value: "secrets-store:login" }],
  }]);
  assertEquals(asks.pod, undefined);
  assertStringIncludes(
    asks.denied!,
    'container "app": variable VAULT_TOKEN is secrets-store:login, which would give the app the injector\'s store token, and this installation does not allow it (injector.allowLoginToken)',
  );
});

suite.test("malformed and oversized requests get answers, and the webhook keeps serving", async () => {
  const w = await setUp();
  const errorsCounted = () => counted(w, 'admissions_total{outcome="error"}');
  const before = await errorsCounted();
  const client = Deno.createHttpClient({ caCerts: [w.caCert] });
  try {
    for (const body of ["{", '{"kind":"AdmissionReview"}', "x".repeat(5 * 1024 * 1024)]) {
      const r = await fetch(`${w.url}/mutate`, { method: "POST", body, client });
      assertEquals(r.status === 400 || r.status === 413, true, `status ${r.status}`);
      await r.body?.cancel();
    }
  } finally {
    client.close();
  }
  // The two unreadable reviews count as errors; the oversized one is refused before reading.
  for (let i = 0; i < 6; i++) assertEquals(await errorsCounted(), before + 2);
  const { pod } = await createPod([{ name: "app", image: "alpine:3.20", command: ["true"] }]);
  assertEquals(pod!.spec.initContainers![0]!.name, "secrets-store-copy-self");
});

suite.test("a renewed serving certificate is picked up without a restart", async () => {
  const w = await setUp();
  const hostPort = new URL(w.url).host;
  assertEquals(await servedSerial(hostPort), await certSerial(w.certFile));
  const serial = await w.rotateCert();
  // Each serving thread reloads on its own timer, and the kernel spreads new connections
  // over their listeners: 20 fresh connections in a row on the new certificate mean both
  // have reloaded (by chance alone, about 1 in 500,000), so no later test meets a listener
  // closing under it.
  await waitUntil(
    "new certificate served by every thread",
    async () => {
      for (let i = 0; i < 20; i++) if ((await servedSerial(hostPort)) !== serial) return false;
      return true;
    },
    10_000,
    w.logFile,
  );
  const { pod } = await createPod([{ name: "app", image: "alpine:3.20", command: ["true"] }]);
  assertEquals(pod!.spec.initContainers![0]!.name, "secrets-store-copy-self");
});

suite.test("a container without command gets its image's ENTRYPOINT and CMD through imagePullSecrets", async () => {
  await setUp();
  const { pod, denied } = await createPod(
    [{ name: "web", image: `${registry.host}/team/app:1.0` }],
    undefined,
    {
      imagePullSecrets: [{ name: "regcred" }],
    },
  );
  assertEquals(denied, undefined);
  const c = pod!.spec.containers[0]!;
  assertEquals([c.command, c.args], [[...LAUNCH, "/docker-entrypoint.sh"], [
    "nginx",
    "-g",
    "daemon off;",
  ]]);
});

suite.test("a rollout's Pods share the image lookup: after the first, the cache answers", async () => {
  const w = await setUp();
  await registry.push.image("team/rollout", "3.0", IMAGES.app);
  const lookups = async () => ({
    fetched: await counted(w, 'image_lookups_total{result="fetched"}'),
    cached: await counted(w, 'image_lookups_total{result="cached"}'),
  });
  const before = await lookups();
  for (let i = 0; i < 4; i++) {
    const { pod, denied } = await createPod(
      [{ name: "web", image: `${registry.host}/team/rollout:3.0` }],
      undefined,
      { imagePullSecrets: [{ name: "regcred" }] },
    );
    assertEquals(denied, undefined);
    assertEquals(pod!.spec.containers[0]!.command, [...LAUNCH, "/docker-entrypoint.sh"]);
  }
  const after = await lookups();
  const fetched = after.fetched - before.fetched;
  // Each of the two serving threads keeps its own cache, so at most two fetch.
  assert(fetched >= 1 && fetched <= 2, `${fetched} fetched`);
  assertEquals(after.cached - before.cached, 4 - fetched);
});

suite.test("the ServiceAccount's imagePullSecrets are used, and an index resolves to linux/amd64", async () => {
  await setUp();
  const { pod, denied } = await createPod(
    [{ name: "app", image: `${registry.host}/team/multi:2.0`, args: ["--port", "8080"] }],
    undefined,
    { serviceAccountName: "puller" },
  );
  assertEquals(denied, undefined);
  const c = pod!.spec.containers[0]!;
  assertEquals([c.command, c.args], [[...LAUNCH, "/bin/app-amd64"], ["--port", "8080"]]);
});

suite.test("without a pull secret the Pod is denied, naming container, image, reason and fix", async () => {
  await setUp();
  const { denied } = await createPod([{ name: "web", image: `${registry.host}/team/app:1.0` }]);
  assertStringIncludes(denied!, 'container "web"');
  assertStringIncludes(denied!, `${registry.host}/team/app:1.0`);
  assertStringIncludes(denied!, "unauthorized");
  assertStringIncludes(denied!, 'Set "command"');
  assert(!denied!.includes(registry.user.password));
});

/** Creates a Pod whose container needs its image's entrypoint (so the webhook must read pull
 * secrets), and returns what the API answered (a refusal's code and message: the webhook's
 * denial, or the API server's own validation after an allowing webhook) and what the webhook
 * asked the API server meanwhile, from the audit log. */
async function podWithLookup(spec: Record<string, unknown>, metadata = {}) {
  await setUp();
  const mark = await auditMark(env.kube.auditLog);
  const res = await env.kube.api<{ message?: string; code?: number }>(
    "POST",
    `/api/v1/namespaces/${NS}/pods`,
    {
      metadata: { name: `p${++n}`, annotations: { [A + "role"]: "myapp-role" }, ...metadata },
      spec: { containers: [{ name: "web", image: `${registry.host}/team/app:1.0` }], ...spec },
    },
    [400, 403, 422, 500],
  );
  const requests = await requestsSince(mark, WEBHOOK_USER);
  // Events of this or an earlier denial are written in the background, so they may fall in
  // the window or not: `asked` is the reads; `outside` holds every request, events too.
  const asked = requests.filter((r) => r.resource !== "events");
  return {
    code: res.code,
    message: res.message,
    asked: describeRequests(asked),
    outside: describeRequests(requests.filter((r) => r.namespace !== NS)),
  };
}

suite.test("a valid pull secret is read from the Pod's namespace, and the audit log shows exactly those reads", async () => {
  const { code, message, asked, outside } = await podWithLookup({
    serviceAccountName: "puller-audit",
    imagePullSecrets: [{ name: "regcred-audit" }],
  });
  assertEquals([code, message], [undefined, undefined]);
  assertEquals(asked, [
    `get ${NS}/serviceaccounts/puller-audit (/api/v1/namespaces/${NS}/serviceaccounts/puller-audit)`,
    `get ${NS}/secrets/regcred-audit (/api/v1/namespaces/${NS}/secrets/regcred-audit)`,
    `get ${NS}/secrets/regcred (/api/v1/namespaces/${NS}/secrets/regcred)`,
  ]);
  assertEquals(outside, []);
});

/** Names that, put into a path unchecked, read another namespace's object or another object
 * than the one named. Each is refused at admission with its field, before any request. */
const HOSTILE_NAMES: Array<[string, Record<string, unknown>, string, string]> = [
  ...[
    `../../${OTHER_NS}/secrets/regcred`,
    "%2e%2e/%2e%2e/" + OTHER_NS + "/secrets/regcred",
    "regcred?x=1",
    "regcred#frag",
    "regcred/",
    "%2e%2e",
    "..",
    "Regcred",
    "regcred\u0000",
  ].map((name): [string, Record<string, unknown>, string, string] => [
    `imagePullSecrets name ${JSON.stringify(name)}`,
    { imagePullSecrets: [{ name: "regcred-audit" }, { name }] },
    "spec.imagePullSecrets[1].name",
    name,
  ]),
  ...[
    `../../${OTHER_NS}/serviceaccounts/puller`,
    "../../kube-system/serviceaccounts/default",
    "puller?x=1",
    "puller#frag",
    "puller/",
    "%2e%2e",
  ].map((name): [string, Record<string, unknown>, string, string] => [
    `serviceAccountName ${JSON.stringify(name)}`,
    { serviceAccountName: name, imagePullSecrets: [{ name: "regcred-audit" }] },
    "spec.serviceAccountName",
    name,
  ]),
];

for (const [what, extra, field, value] of HOSTILE_NAMES) {
  suite.test(`a Pod with ${what} is denied naming the field, and the webhook reads nothing`, async () => {
    const { message, code, asked, outside } = await podWithLookup(extra);
    assertEquals(outside, []);
    assertEquals(code, 400, message);
    assertStringIncludes(message!, "denied the request");
    assertStringIncludes(message!, `${field}: ${JSON.stringify(value)} is not a valid object name`);
    assertEquals(asked, []);
  });
}

suite.test("a ServiceAccount listing hostile pull secret names gets them skipped, and nothing outside the namespace is read", async () => {
  const w = await setUp();
  const { code, message, asked, outside } = await podWithLookup({
    serviceAccountName: "puller-hostile",
  });
  assertEquals(outside, []);
  assertEquals(asked, [
    `get ${NS}/serviceaccounts/puller-hostile (/api/v1/namespaces/${NS}/serviceaccounts/puller-hostile)`,
  ]);
  // No credential was left, so the private image cannot be read.
  assertEquals(code, 400, message);
  assertStringIncludes(message!, "unauthorized");
  const log = await Deno.readTextFile(w.logFile);
  assertStringIncludes(log, "ServiceAccount puller-hostile imagePullSecrets[0].name");
});

suite.test("a Pod claiming another namespace in metadata is refused by the API server, and the webhook makes no request", async () => {
  const { message, code, asked } = await podWithLookup(
    { imagePullSecrets: [{ name: "regcred" }] },
    { namespace: OTHER_NS },
  );
  assertEquals(code, 400, message);
  assertStringIncludes(message!, "does not match the namespace");
  assertEquals(asked, []);
});

/** POST of a Pod as admin, returning the answer and the warnings the API server passes on
 * from the webhook (the Warning header kubectl prints). */
async function createPodWithWarnings(body: unknown) {
  await setUp();
  const client = Deno.createHttpClient({ caCerts: [env.kube.caCert] });
  try {
    const res = await fetch(`${env.kube.url}/api/v1/namespaces/${NS}/pods`, {
      method: "POST",
      client,
      headers: {
        authorization: `Bearer ${env.kube.adminToken}`,
        "content-type": "application/json",
      },
      body: JSON.stringify(body),
    });
    const json = await res.json();
    return { status: res.status, json, warning: res.headers.get("warning") ?? "" };
  } finally {
    client.close();
  }
}

suite.test("a mutated Pod is marked with the injector's version and delivery", async () => {
  const { pod, denied } = await createPod([{ name: "app", image: "i", command: ["run"] }]);
  assertEquals(denied, undefined);
  assertEquals(
    pod!.metadata.annotations?.[`${A}injected`],
    `${VERSION}; delivery=copy`,
  );
  assertEquals(pod!.metadata.annotations?.[`${A}role`], "myapp-role");
});

suite.test("a denied Pod leaves an InjectionDenied event in its namespace, naming the Pod and the annotation, and no value", async () => {
  const { denied } = await createPod(
    [{ name: "app", image: "i", command: ["run"], env: [{ name: "PASSWORD", value: "hunter2" }] }],
    { [A + "role"]: "myapp-role", [A + "client-timeout"]: "soon" },
  );
  assertStringIncludes(denied!, "see docs/troubleshooting.md#webhook-denied");
  const name = `p${n}`;
  const e = await waitForEvent(
    env.kube,
    NS,
    "the denial's event",
    (e) => e.reason === "InjectionDenied" && e.regarding.name === name,
  );
  assertEquals([e.type, e.action, e.reportingController], [
    "Warning",
    "Inject",
    "secrets-store.deckhouse.io/webhook",
  ]);
  // The Pod was never created: the event names it by namespace and name, without a uid.
  assertEquals(e.regarding, { apiVersion: "v1", kind: "Pod", namespace: NS, name });
  assertStringIncludes(e.note!, `${A}client-timeout`);
  assert(!JSON.stringify(e).includes("hunter2"), "an event holds an env value");
});

suite.test("denials of a controller's Pods are events on the controller, repeats counted in one series", async () => {
  const owner = {
    apiVersion: "apps/v1",
    kind: "ReplicaSet",
    name: "web-5d8f7",
    uid: "6f1c2d3e-0000-4000-8000-00000000abcd",
    controller: true,
  };
  for (let i = 0; i < 2; i++) {
    const r = await createPodWithWarnings({
      metadata: {
        generateName: "web-5d8f7-",
        ownerReferences: [owner],
        annotations: { [A + "role"]: "myapp-role", [A + "tls-skip-verify"]: "maybe" },
      },
      spec: { containers: [{ name: "app", image: "i", command: ["run"] }] },
    });
    assertEquals(r.status, 400, JSON.stringify(r.json));
  }
  const e = await waitForEvent(
    env.kube,
    NS,
    "one denial event with a series of two",
    (e) => e.regarding.uid === owner.uid && (e.series?.count ?? 1) >= 2,
  );
  assertEquals(e.regarding, {
    apiVersion: "apps/v1",
    kind: "ReplicaSet",
    namespace: NS,
    name: owner.name,
    uid: owner.uid,
  });
  assertEquals(e.reason, "InjectionDenied");
  assertStringIncludes(e.note!, "Pod web-5d8f7-*: secrets-store: Invalid annotations:");
});

suite.test("a misspelt annotation is admitted with a warning kubectl prints and an UnknownAnnotation event", async () => {
  for (const role of [true, false]) {
    const name = `misspelt-${role}`;
    const annotations: Record<string, string> = { [A + "env-form-path"]: "demo-kv/data/myapp" };
    if (role) annotations[A + "role"] = "myapp-role";
    const r = await createPodWithWarnings({
      metadata: { name, annotations },
      spec: { containers: [{ name: "app", image: "i", command: ["run"] }] },
    });
    assertEquals(r.status, 201, JSON.stringify(r.json));
    assertStringIncludes(
      r.warning,
      `annotation \\"${A}env-form-path\\" is not one of secrets-store's (did you mean ${A}env-from-path?); it is ignored`,
    );
    assertEquals(!!r.json.metadata.annotations[`${A}injected`], role);
    const e = await waitForEvent(
      env.kube,
      NS,
      `the UnknownAnnotation event of ${name}`,
      (e) => e.reason === "UnknownAnnotation" && e.regarding.name === name,
    );
    assertEquals(e.type, "Warning");
    assertStringIncludes(e.note!, `did you mean ${A}env-from-path?`);
  }
});

suite.test("templates in a Pod without the role annotation are admitted untouched, with a warning and a TemplatesWithoutRole event", async () => {
  const r = await createPodWithWarnings({
    metadata: { name: "templates-no-role" },
    spec: {
      containers: [{
        name: "app",
        image: "i",
        command: ["run"],
        env: [{ name: "DB_PASS", value: "secrets-store:demo-kv/data/myapp-secret#DB_PASS" }],
      }],
    },
  });
  assertEquals(r.status, 201);
  assertEquals(r.json.spec.containers[0].command, ["run"]);
  assertStringIncludes(r.warning, `has no ${A}role annotation`);
  const e = await waitForEvent(
    env.kube,
    NS,
    "the TemplatesWithoutRole event",
    (e) => e.reason === "TemplatesWithoutRole" && e.regarding.name === "templates-no-role",
  );
  assertStringIncludes(e.note!, `container "app"`);
});

// ---- DiscoverLocalStronghold on a cluster without Stronghold ----

const STRONGHOLD_NS = "d8-stronghold";
const NO_CA_NS = "webhook-test-no-ca";
const NO_CA_LABEL = "secrets-store-webhook-test-no-ca";

/** The value of an unlabelled gauge on `w`'s /metrics. */
async function gauge(w: WebhookServer, name: string): Promise<number> {
  const client = Deno.createHttpClient({ caCerts: [w.caCert] });
  try {
    const text = await (await fetch(`${w.url}/metrics`, { client })).text();
    const line = text.split("\n").find((l) => l.startsWith(`${name} `));
    assert(line, `no ${name} in:\n${text}`);
    return Number(line.split(" ").at(-1));
  } finally {
    client.close();
  }
}

suite.test("with DiscoverLocalStronghold and no Stronghold Secret the webhook serves: plain Pods are admitted, annotated ones denied naming the Secret until it exists, then mutated with its CA", async () => {
  await setUp();
  const secretPath = `/api/v1/namespaces/${STRONGHOLD_NS}/secrets/stronghold-tls`;
  assertEquals(
    (await env.kube.api<{ code?: number }>("GET", secretPath, undefined, [404])).code,
    404,
  );
  const w = await startWebhook({
    dir: `${env.dir}/no-ca`,
    // The chart's default connectionConfiguration; the address is irrelevant to the webhook.
    settings: [
      "connection:",
      "  url: https://stronghold.example:8300",
      "injector:",
      "  image: registry.local/secrets-store:test",
    ].join("\n"),
    kube: { url: env.kube.url, caFile: env.kube.caFile, token: env.kube.webhookToken },
    workers: 1,
  });
  const mwc =
    `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/secrets-store-${NO_CA_LABEL}`;
  try {
    await env.kube.api("POST", "/api/v1/namespaces", {
      metadata: { name: NO_CA_NS, labels: { [NO_CA_LABEL]: "enabled" } },
    });
    await registerWebhook(env.kube, w, NO_CA_LABEL);
    assertEquals(await gauge(w, "secrets_store_store_ca_known"), 0);
    let i = 0;
    const create = (annotations: Record<string, string>) =>
      env.kube.api<PodOut & { code?: number; message?: string }>(
        "POST",
        `/api/v1/namespaces/${NO_CA_NS}/pods`,
        {
          metadata: { name: `no-ca-${++i}`, annotations },
          spec: { containers: [{ name: "app", image: "alpine:3.20", command: ["sleep", "1"] }] },
        },
        [400],
      );
    const plain = await create({ unrelated: "x" });
    assertEquals([plain.code, plain.spec.containers[0]!.command], [undefined, ["sleep", "1"]]);
    const denied = await create({ [A + "role"]: "myapp-role" });
    assertEquals(denied.code, 400);
    assertStringIncludes(denied.message!, "Secret d8-stronghold/stronghold-tls key ca.crt");
    assertStringIncludes(
      denied.message!,
      "install Stronghold, or set connectionConfiguration: Manual",
    );
    const event = await waitForEvent(
      env.kube,
      NO_CA_NS,
      "the denial's event",
      (e) => e.reason === "InjectionDenied" && e.regarding.name === `no-ca-${i}`,
    );
    assertStringIncludes(event.note!, "d8-stronghold/stronghold-tls");
    const log = await Deno.readTextFile(w.logFile);
    // The operator is told once, whatever the number of retries and denials since.
    const warned = log.split("\n").filter((l) => / WARN {2}the store's CA is not known/.test(l));
    assertEquals(warned.length, 1, log);
    assertStringIncludes(warned[0]!, "d8-stronghold/stronghold-tls");

    await env.kube.api("POST", "/api/v1/namespaces", { metadata: { name: STRONGHOLD_NS } }, [409]);
    await env.kube.api("POST", `/api/v1/namespaces/${STRONGHOLD_NS}/secrets`, {
      metadata: { name: "stronghold-tls" },
      data: { "ca.crt": btoa(env.bao.caCert) },
    });
    // The webhook looks again with a backoff bounded by minutes; the first retries come
    // within seconds of its start.
    await waitUntil(
      "the webhook reading Stronghold's CA",
      async () => await gauge(w, "secrets_store_store_ca_known") === 1,
      90_000,
      w.logFile,
    );
    const mutated = await create({ [A + "role"]: "myapp-role" });
    assertEquals(mutated.code, undefined, mutated.message);
    const e = envOf(mutated.spec.containers[0]!);
    assertEquals(e.SECRETS_STORE_CA_CERT, env.bao.caCert);
    assertEquals(e.SECRETS_STORE_ADDR, "https://stronghold.example:8300");
  } finally {
    await env.kube.api("DELETE", mwc, undefined, [404]);
    await env.kube.api("DELETE", secretPath, undefined, [404]);
    await w.stop();
  }
});
