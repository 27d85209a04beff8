import type { StorePath } from "../config/store_path.ts";
import { assert, assertEquals, assertStringIncludes } from "../../tests/harness/assert.ts";
import type { EventInput } from "../kube/events.ts";
import { createLogger, silentLogger } from "../log/logger.ts";
import { localCaMissing } from "../config/connection.ts";
import { type AdmissionDeps, handleAdmission, ImageResolveError } from "./admission.ts";
import { WebhookMetrics } from "./metrics.ts";

function deps(over: Partial<AdmissionDeps> = {}): AdmissionDeps {
  return {
    defaults: () => ({
      address: "https://store:8200",
      authPath: "kubernetes_local" as StorePath,
      allowInsecureHttp: false,
    }),
    injector: { image: "secrets-store:1", imagePullPolicy: "IfNotPresent" },
    resolveImages: (_pod, _ns, wanted) =>
      Promise.resolve(
        new Map(wanted.map((w) => [w.image, { entrypoint: ["/entry"], cmd: ["serve"] }])),
      ),
    logger: silentLogger,
    metrics: new WebhookMetrics(),
    ...over,
  };
}

function review(object: unknown, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: "uid-1",
      kind: { group: "", version: "v1", kind: "Pod" },
      operation: "CREATE",
      namespace: "myapp-namespace",
      object,
      ...extra,
    },
  };
}

const annotated = (containers: unknown[], annotations: Record<string, string> = {}) => ({
  metadata: {
    name: "p",
    annotations: { "secrets-store.deckhouse.io/role": "myapp-role", ...annotations },
  },
  spec: { containers },
});

async function post(body: unknown, d = deps()) {
  const res = await handleAdmission(typeof body === "string" ? body : JSON.stringify(body), d);
  const text = res.body as string;
  return {
    status: res.status,
    text,
    json: res.contentType.includes("json") ? JSON.parse(text) : undefined,
  };
}

Deno.test("an annotated Pod gets a JSONPatch answer carrying the request's uid", async () => {
  const r = await post(review(annotated([{ name: "app", image: "alpine:3.20", command: ["sh"] }])));
  assertEquals(r.status, 200);
  const res = r.json.response;
  assertEquals([res.uid, res.allowed, res.patchType], ["uid-1", true, "JSONPatch"]);
  const patch = JSON.parse(atob(res.patch));
  assertEquals(patch.map((p: { path: string }) => p.path), [
    "/metadata/annotations",
    "/spec/initContainers",
    "/spec/containers",
    "/spec/volumes",
  ]);
});

Deno.test("text beyond Latin-1 in the Pod reaches the patch as UTF-8, unchanged", async () => {
  const text = "пароль é 🔑";
  const r = await post(review(annotated([{
    name: "app",
    image: "alpine:3.20",
    command: ["echo", text],
    env: [{ name: "GREETING", value: text }],
  }])));
  assertEquals(r.json.response.allowed, true, r.text);
  // The API server reads the patch as base64 of UTF-8 JSON.
  const bytes = Uint8Array.from(atob(r.json.response.patch), (c) => c.charCodeAt(0));
  const patch = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  const app = patch.find((p: { path: string }) => p.path === "/spec/containers").value[0];
  assertEquals(app.command.at(-1), text);
  assertEquals(app.env.find((e: { name: string }) => e.name === "GREETING").value, text);
});

Deno.test("Pods without the role annotation, other kinds and other operations pass untouched", async () => {
  const plainPod = { metadata: { name: "p" }, spec: { containers: [{ name: "a", image: "i" }] } };
  for (
    const body of [
      review(plainPod),
      review(annotated([{ name: "a", image: "i" }]), { operation: "UPDATE" }),
      review({ metadata: {} }, { kind: { group: "apps", version: "v1", kind: "Deployment" } }),
    ]
  ) {
    const r = await post(body);
    assertEquals(r.json.response, { uid: "uid-1", allowed: true });
  }
});

Deno.test("a bad annotation denies the Pod with a message naming it", async () => {
  const r = await post(review(annotated([{ name: "a", image: "i", command: ["x"] }], {
    "secrets-store.deckhouse.io/client-timeout": "soon",
  })));
  assertEquals(r.json.response.allowed, false);
  assertStringIncludes(r.json.response.status.message, "secrets-store.deckhouse.io/client-timeout");
});

Deno.test("an image whose entrypoint cannot be found denies the Pod with the resolver's reason", async () => {
  const r = await post(
    review(annotated([{ name: "app", image: "registry.local/private:1" }])),
    deps({
      resolveImages: () =>
        Promise.reject(
          new ImageResolveError(
            'container "app": cannot read image "registry.local/private:1": unauthorized; set "command"',
          ),
        ),
    }),
  );
  assertEquals(r.json.response.allowed, false);
  assertStringIncludes(r.json.response.status.message, 'container "app"');
  assertStringIncludes(r.json.response.status.message, "unauthorized");
});

Deno.test("an already mutated Pod is allowed without a second patch", async () => {
  const first = await post(review(annotated([{ name: "app", image: "i", command: ["run"] }])));
  const pod = annotated([{ name: "app", image: "i", command: ["run"] }]) as {
    spec: Record<string, unknown>;
  };
  for (const op of JSON.parse(atob(first.json.response.patch))) {
    pod.spec[op.path.split("/")[2]] = op.value;
  }
  const again = await post(review(pod));
  assertEquals(again.json.response, { uid: "uid-1", allowed: true });
});

Deno.test("tls-skip-verify is allowed but warned about", async () => {
  const r = await post(review(annotated([{ name: "app", image: "i", command: ["run"] }], {
    "secrets-store.deckhouse.io/tls-skip-verify": "true",
  })));
  assertStringIncludes(r.json.response.warnings[0], "tls-skip-verify");
});

// Oversized bodies never reach this function: the server refuses them (server_test.ts).
Deno.test("malformed and wrong bodies get an answer, never a crash", async () => {
  assertEquals((await post("")).status, 400);
  assertEquals((await post("{not json")).status, 400);
  assertEquals((await post({ apiVersion: "v1", kind: "Pod" })).status, 400);
  assertEquals((await post({ ...review({}), request: { uid: "" } })).status, 400);
  const unknown = await post({
    ...review(annotated([{ name: "a", image: "i", command: ["x"] }])),
    extra: { field: 1 },
  });
  assertEquals(unknown.json.response.allowed, true);
  const noContainers = await post(
    review({ metadata: { annotations: { "secrets-store.deckhouse.io/role": "r" } }, spec: {} }),
  );
  assertEquals(noContainers.json.response.allowed, false);
  assertStringIncludes(noContainers.json.response.status.message, "spec.containers");
});

Deno.test("an unexpected failure denies with code 500 and is counted as an error", async () => {
  const d = deps({ resolveImages: () => Promise.reject(new Error("boom")) });
  const r = await post(review(annotated([{ name: "app", image: "i" }])), d);
  assertEquals([r.json.response.allowed, r.json.response.status.code], [false, 500]);
  assertStringIncludes(
    d.metrics.render(),
    'secrets_store_webhook_admissions_total{outcome="error"} 1',
  );
});

/** A resolver that records the namespace it was asked for, and fails the test if it was
 * asked when it should not have been. */
function recordingDeps() {
  const asked: string[] = [];
  const d = deps({
    resolveImages: (_pod, ns, wanted) => {
      asked.push(ns);
      return new Map(wanted.map((w) => [w.image, { entrypoint: ["/entry"], cmd: ["serve"] }]));
    },
  });
  return { d, asked };
}

const needsLookup = (spec: Record<string, unknown>, metadata: Record<string, unknown> = {}) => {
  const pod = annotated([{ name: "app", image: "registry.example.com/app:1" }]);
  return { metadata: { ...pod.metadata, ...metadata }, spec: { ...pod.spec, ...spec } };
};

const BAD_NAMES: Array<[Record<string, unknown>, string, string]> = [
  [
    { imagePullSecrets: [{ name: "regcred" }, { name: "../../x" }] },
    "spec.imagePullSecrets[1].name",
    "../../x",
  ],
  [{ imagePullSecrets: [{ name: "regcred?x=1" }] }, "spec.imagePullSecrets[0].name", "regcred?x=1"],
  [{ imagePullSecrets: [{ name: "%2e%2e" }] }, "spec.imagePullSecrets[0].name", "%2e%2e"],
  [
    { serviceAccountName: "../../kube-system/serviceaccounts/default" },
    "spec.serviceAccountName",
    "../../kube-system/serviceaccounts/default",
  ],
  [{ serviceAccountName: "sa#frag" }, "spec.serviceAccountName", "sa#frag"],
];

for (const [spec, field, value] of BAD_NAMES) {
  Deno.test(`a Pod with ${field} ${JSON.stringify(value)} is denied naming it, before any lookup`, async () => {
    const { d, asked } = recordingDeps();
    const res = (await post(review(needsLookup(spec)), d)).json.response;
    assertEquals([res.allowed, res.status.code], [false, 400]);
    assertStringIncludes(
      res.status.message,
      `secrets-store: ${field}: ${JSON.stringify(value)} is not a valid object name`,
    );
    assertEquals(asked, []);
  });
}

Deno.test("a Pod with a bad name but a command everywhere is denied too", async () => {
  const pod = annotated([{ name: "app", image: "alpine", command: ["true"] }]);
  const res = (await post(
    review({ ...pod, spec: { ...pod.spec, imagePullSecrets: [{ name: "a/b" }] } }),
  )).json.response;
  assertEquals(res.allowed, false);
  assertStringIncludes(res.status.message, 'spec.imagePullSecrets[0].name: "a/b"');
});

Deno.test("a Pod without the role annotation is allowed untouched whatever its names", async () => {
  const { d, asked } = recordingDeps();
  const pod = {
    metadata: { name: "p" },
    spec: {
      containers: [{ name: "app", image: "x" }],
      serviceAccountName: "../../x",
      imagePullSecrets: [{ name: "a?b" }],
    },
  };
  const res = (await post(review(pod), d)).json.response;
  assertEquals([res.allowed, res.patch, res.status], [true, undefined, undefined]);
  assertEquals(asked, []);
});

Deno.test("lookups use request.namespace, and an empty pull secret name or ServiceAccount is no error", async () => {
  const { d, asked } = recordingDeps();
  const res = (await post(
    review(needsLookup(
      { serviceAccountName: "", imagePullSecrets: [{ name: "" }, {}, { name: "a.b-c" }] },
      { namespace: "myapp-namespace" },
    )),
    d,
  )).json.response;
  assertEquals(res.allowed, true);
  assertEquals(asked, ["myapp-namespace"]);
});

Deno.test("a Pod whose metadata.namespace differs from request.namespace is denied naming both", async () => {
  const { d, asked } = recordingDeps();
  const res = (await post(review(needsLookup({}, { namespace: "other-ns" })), d)).json.response;
  assertEquals([res.allowed, res.status.code], [false, 400]);
  assertStringIncludes(res.status.message, 'metadata.namespace "other-ns"');
  assertStringIncludes(res.status.message, 'request.namespace "myapp-namespace"');
  assertEquals(asked, []);
});

Deno.test("a review without a valid request.namespace denies an annotated Pod, never a 500", async () => {
  for (const namespace of [undefined, "", "../x", "A"]) {
    const { d, asked } = recordingDeps();
    const res = (await post(review(needsLookup({}), { namespace }), d)).json.response;
    assertEquals([res.allowed, res.status.code], [false, 400]);
    assertStringIncludes(
      res.status.message,
      `request.namespace: ${JSON.stringify(namespace ?? "")} is not a valid namespace name`,
    );
    assertEquals(asked, []);
  }
});

Deno.test("a Pod nested too deeply to write back is denied with the request's uid, not a 500", async () => {
  const deep = "[".repeat(10_000) + "]".repeat(10_000);
  const body = JSON.stringify(review(annotated([{ name: "app", image: "a", command: ["sh"] }])))
    .replace('"command":["sh"]', `"command":["sh"],"x":${deep}`);
  const r = await post(body);
  assertEquals(r.status, 200);
  const res = r.json.response;
  assertEquals([res.uid, res.allowed, res.status.code], ["uid-1", false, 400]);
  assertStringIncludes(res.status.message, "cannot write the answer for this Pod");
  assertStringIncludes(res.status.message, "nested too deeply");
});

Deno.test("a Pod with a command, or whose images are all cached, is answered without a promise", () => {
  // The fast path: an admission that needs no registry runs start to end in one turn of the
  // event loop, never interleaving with the others in flight.
  let asked = 0;
  const cached = deps({
    resolveImages: (_pod, _ns, wanted) => {
      asked++;
      return new Map(wanted.map((w) => [w.image, { entrypoint: ["/entry"], cmd: ["serve"] }]));
    },
  });
  const withCommand = review(annotated([{ name: "app", image: "alpine:3.20", command: ["sh"] }]));
  const withoutCommand = review(annotated([{ name: "app", image: "alpine:3.20" }]));
  for (const body of [withCommand, withoutCommand]) {
    const res = handleAdmission(JSON.stringify(body), cached);
    assert(!(res instanceof Promise), "the answer is a promise");
    assertEquals(JSON.parse(res.body as string).response.patchType, "JSONPatch");
  }
  assertEquals(asked, 1, "only the Pod without a command asks for its image");
});

/** An EventSink that keeps what it is given. */
function events() {
  const got: EventInput[] = [];
  return { got, sink: { emit: (e: EventInput) => got.push(e) } };
}

Deno.test("a denial is an event on the Pod's controller, naming the Pod and the annotation at fault", async () => {
  const ev = events();
  const pod = annotated([{ name: "app", image: "i", command: ["run"] }], {
    "secrets-store.deckhouse.io/client-timeout": "soon",
  }) as { metadata: Record<string, unknown> };
  delete pod.metadata.name;
  pod.metadata.generateName = "web-7d4b9-";
  pod.metadata.ownerReferences = [
    { apiVersion: "v1", kind: "ConfigMap", name: "not-the-controller", uid: "u-0" },
    { apiVersion: "apps/v1", kind: "ReplicaSet", name: "web-7d4b9", uid: "u-1", controller: true },
  ];
  const r = await post(review(pod), deps({ events: ev.sink }));
  assertEquals(r.json.response.allowed, false);
  assertEquals(ev.got.length, 1);
  const e = ev.got[0]!;
  assertEquals([e.type, e.reason, e.action], ["Warning", "InjectionDenied", "Inject"]);
  assertEquals(e.regarding, {
    apiVersion: "apps/v1",
    kind: "ReplicaSet",
    namespace: "myapp-namespace",
    name: "web-7d4b9",
    uid: "u-1",
  });
  assertStringIncludes(e.note, "Pod web-7d4b9-*: secrets-store: Invalid annotations:");
  assertStringIncludes(e.note, "secrets-store.deckhouse.io/client-timeout");
});

Deno.test("a denied Pod without a controller is named by its own name in its namespace, without a uid", async () => {
  const ev = events();
  const pod = annotated([{ name: "app", image: "i", command: ["run"] }], {
    "secrets-store.deckhouse.io/tls-skip-verify": "maybe",
  });
  await post(review(pod), deps({ events: ev.sink }));
  assertEquals(ev.got[0]!.regarding, {
    apiVersion: "v1",
    kind: "Pod",
    namespace: "myapp-namespace",
    name: "p",
  });
  assertEquals(ev.got[0]!.note.startsWith("secrets-store: Invalid annotations:"), true);
});

Deno.test("a misspelt annotation is a warning and an event, not a denial, with or without the role", async () => {
  for (const role of [true, false]) {
    const ev = events();
    const pod = annotated([{ name: "app", image: "i", command: ["run"] }], {
      "secrets-store.deckhouse.io/env-form-path": "demo-kv/data/x",
    }) as { metadata: { annotations: Record<string, string> } };
    if (!role) delete pod.metadata.annotations["secrets-store.deckhouse.io/role"];
    const r = await post(review(pod), deps({ events: ev.sink }));
    const res = r.json.response;
    assertEquals(res.allowed, true);
    assertEquals(res.patchType, role ? "JSONPatch" : undefined);
    assertEquals(res.warnings, [
      'secrets-store: annotation "secrets-store.deckhouse.io/env-form-path" is not one of secrets-store\'s (did you mean secrets-store.deckhouse.io/env-from-path?); it is ignored',
    ]);
    assertEquals(ev.got.map((e) => [e.type, e.reason]), [["Warning", "UnknownAnnotation"]]);
  }
});

Deno.test("templates in a Pod without the role annotation are a warning and an event; a plain Pod is neither", async () => {
  const ev = events();
  const r = await post(
    review({
      metadata: { name: "p" },
      spec: {
        containers: [{
          name: "app",
          image: "i",
          env: [{ name: "P", value: "secrets-store:kv/data/x#P" }],
        }],
      },
    }),
    deps({ events: ev.sink }),
  );
  assertEquals(r.json.response.allowed, true);
  assertEquals(r.json.response.patch, undefined);
  assertStringIncludes(
    r.json.response.warnings[0],
    "has no secrets-store.deckhouse.io/role annotation",
  );
  assertEquals(ev.got.map((e) => e.reason), ["TemplatesWithoutRole"]);
  const plain = events();
  const p = await post(
    review({ metadata: { name: "p" }, spec: { containers: [{ name: "app" }] } }),
    deps({ events: plain.sink }),
  );
  assertEquals([p.json.response.warnings, plain.got], [undefined, []]);
});

Deno.test("the admission log line names the Pod (its generateName at CREATE) and the reason", async () => {
  const lines: string[] = [];
  const logger = createLogger({ level: "info", json: true, write: (l) => lines.push(l) });
  const pod = annotated([{ name: "app", image: "i", command: ["run"] }], {
    "secrets-store.deckhouse.io/log-level": "loud",
  }) as { metadata: Record<string, unknown> };
  delete pod.metadata.name;
  pod.metadata.generateName = "web-";
  await post(review(pod), deps({ logger }));
  const line = JSON.parse(lines.find((l) => l.includes('"admission"'))!);
  assertEquals([line.pod, line.outcome], ["myapp-namespace/web-*", "denied"]);
  assertStringIncludes(line.reason, "secrets-store.deckhouse.io/log-level");
});

/** Deps whose defaults lack DiscoverLocalStronghold's CA until `know()` is called. */
function withoutCa(over: Partial<AdmissionDeps> = {}) {
  let caCert: string | undefined;
  const base = deps().defaults();
  const d = deps({
    defaults: () =>
      caCert
        ? { ...base, caCert }
        : { ...base, caMissing: localCaMissing("cannot read Secret d8-stronghold/stronghold-tls") },
    ...over,
  });
  return { d, know: (pem: string) => caCert = pem };
}

Deno.test("while the store's CA is unknown, a Pod asking for injection is denied naming the Secret and the fix, with its event", async () => {
  const ev = events();
  const { d, know } = withoutCa({ events: ev.sink });
  const r = await post(review(annotated([{ name: "app", image: "i", command: ["run"] }])), d);
  assertEquals(r.json.response.allowed, false);
  const message: string = r.json.response.status.message;
  assertStringIncludes(message, "Secret d8-stronghold/stronghold-tls key ca.crt");
  assertStringIncludes(message, "install Stronghold, or set connectionConfiguration: Manual");
  assertStringIncludes(message, "see docs/troubleshooting.md#webhook-denied");
  assertEquals(ev.got.map((e) => e.reason), ["InjectionDenied"]);
  assertStringIncludes(ev.got[0]!.note, "d8-stronghold/stronghold-tls");
  // The next admission after the CA arrives is mutated with it.
  know("-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n");
  const next = await post(review(annotated([{ name: "app", image: "i", command: ["run"] }])), d);
  assertEquals(next.json.response.allowed, true);
  const patch = atob(next.json.response.patch);
  assertStringIncludes(patch, "BEGIN CERTIFICATE-----\\nCA\\n");
});

Deno.test("while the store's CA is unknown, Pods that do not need it are answered as before, synchronously", async () => {
  const { d } = withoutCa();
  const plain = handleAdmission(
    JSON.stringify(review({ metadata: { name: "p" }, spec: { containers: [{ name: "a" }] } })),
    d,
  );
  assert(!(plain instanceof Promise), "a Pod without the role annotation waits for nothing");
  assertEquals(JSON.parse(plain.body as string).response, { uid: "uid-1", allowed: true });
  // Their own CA (tls-secret) or no verification at all: the installation's CA is not used.
  for (const a of [{ "tls-secret": "my-ca" }, { "tls-skip-verify": "true" }]) {
    const annotations = Object.fromEntries(
      Object.entries(a).map(([k, v]) => [`secrets-store.deckhouse.io/${k}`, v]),
    );
    const r = await post(
      review(annotated([{ name: "app", image: "i", command: ["run"] }], annotations)),
      d,
    );
    assertEquals(r.json.response.allowed, true, JSON.stringify(a));
    assertEquals(r.json.response.patchType, "JSONPatch");
  }
});

Deno.test("the installation's mesh containers are left alone unless skip-mutate-containers names others", async () => {
  const containers = [
    { name: "app", image: "app", command: ["run"] },
    { name: "istio-proxy", image: "proxy", command: ["envoy"] },
  ];
  const d = deps({
    injector: { image: "i", imagePullPolicy: "IfNotPresent", skipContainers: ["istio-proxy"] },
  });
  const commands = async (annotations: Record<string, string>) => {
    const r = await post(review(annotated(containers, annotations)), d);
    const patch = JSON.parse(atob(r.json.response.patch)) as Array<
      { path: string; value: unknown }
    >;
    const after = patch.find((op) => op.path === "/spec/containers")!.value as Array<
      { name: string; command: string[] }
    >;
    return after.filter((c) => c.command[1] === "inject").map((c) => c.name);
  };
  assertEquals(await commands({}), ["app"]);
  assertEquals(await commands({ "secrets-store.deckhouse.io/skip-mutate-containers": "app" }), [
    "istio-proxy",
  ]);
});

Deno.test("the module's opt-out label stronghold.deckhouse.io/mutate: skip leaves the Pod untouched", async () => {
  const p = annotated([{ name: "app", image: "app", command: ["run"] }]);
  const r = await post(review({
    ...p,
    metadata: { ...p.metadata, labels: { "stronghold.deckhouse.io/mutate": "skip" } },
  }));
  assertEquals(r.json.response.allowed, true);
  assertEquals(r.json.response.patch, undefined);
  // Any other value of the label is no opt-out.
  const other = await post(review({
    ...p,
    metadata: { ...p.metadata, labels: { "stronghold.deckhouse.io/mutate": "yes" } },
  }));
  assert(other.json.response.patch !== undefined);
});
