import { assert, assertEquals, assertStringIncludes } from "../../tests/harness/assert.ts";
import { silentLogger } from "../log/logger.ts";
import { type AdmissionDeps, handleAdmission, ImageResolveError } from "./admission.ts";
import { WebhookMetrics } from "./metrics.ts";

function deps(over: Partial<AdmissionDeps> = {}): AdmissionDeps {
  return {
    defaults: { address: "https://store:8200", authPath: "kubernetes_local" },
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
  assert(d.metrics.render().includes('secrets_store_webhook_admissions_total{outcome="error"} 1'));
});
