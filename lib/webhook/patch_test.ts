import type { StorePath } from "../config/store_path.ts";
import { assert, assertEquals } from "../../tests/harness/assert.ts";
import { type Pod, PodSchema } from "../kube/pod.ts";
import { readPodOptions } from "./annotations.ts";
import { mutatePod } from "./mutate.ts";
import { podPatch } from "./patch.ts";

/** What the API server does with the answer: RFC 6902 "add" over RFC 6901 pointers (`~1` is
 * `/`, `~0` is `~`, decoded in that order), on a copy of the Pod as JSON. */
function applyPatch(doc: unknown, ops: unknown): unknown {
  const out = structuredClone(doc) as Record<string, unknown>;
  for (const op of JSON.parse(JSON.stringify(ops)) as Array<Record<string, unknown>>) {
    assertEquals(op.op, "add", "the webhook only sends add");
    const tokens = (op.path as string).split("/").slice(1).map((t) =>
      t.replaceAll("~1", "/").replaceAll("~0", "~")
    );
    const last = tokens.pop()!;
    let at: Record<string, unknown> = out;
    for (const t of tokens) {
      assert(t in at, `${op.path}: no member ${t} (add needs the parent to exist)`);
      at = at[t] as Record<string, unknown>;
    }
    at[last] = op.value; // add on an existing member replaces it (RFC 6902, 4.1)
  }
  return out;
}

/** A Pod whose annotation and label keys hold `/` and `~`, as real Pods' keys do. */
function pod(spec: Record<string, unknown>): Pod {
  return PodSchema.parse({
    metadata: {
      name: "myapp",
      annotations: {
        "secrets-store.deckhouse.io/role": "myapp-role",
        "example.com/a~b": "x",
        "~0~1": "y",
      },
      labels: { "app.kubernetes.io/name": "myapp" },
    },
    spec,
  });
}

function mutated(p: Pod): Pod {
  return mutatePod(p, {
    options: readPodOptions(p.metadata.annotations ?? {}),
    defaults: {
      address: "https://store.example:8200",
      authPath: "kubernetes_local" as StorePath,
      allowInsecureHttp: false,
    },
    injector: { image: "registry.example/secrets-store:1.0", imagePullPolicy: "IfNotPresent" },
    images: new Map(),
  });
}

const json = (x: unknown) => JSON.parse(JSON.stringify(x));

Deno.test("podPatch() applied to a Pod without init containers or volumes gives the mutated Pod", () => {
  const before = pod({ containers: [{ name: "app", image: "app", command: ["run"] }] });
  const after = mutated(before);
  const ops = podPatch(before, after);
  assertEquals(ops.map((o) => o.path), [
    "/metadata/annotations",
    "/spec/initContainers",
    "/spec/containers",
    "/spec/volumes",
  ]);
  assertEquals(applyPatch(json(before), ops), json(after));
});

Deno.test("podPatch() replaces existing init container and volume lists with add, and keeps what was in them", () => {
  const before = pod({
    initContainers: [{ name: "migrate", image: "app", command: ["migrate"] }],
    containers: [{ name: "app", image: "app", command: ["run"] }],
    volumes: [{ name: "data", emptyDir: {} }],
  });
  const after = mutated(before);
  const applied = applyPatch(json(before), podPatch(before, after)) as Pod;
  assertEquals(applied, json(after));
  assertEquals(applied.spec.initContainers!.map((c) => c.name).slice(1), ["migrate"]);
  assertEquals(applied.spec.volumes!.map((v) => v.name)[0], "data");
});

Deno.test("podPatch() never writes a pointer from a key: annotation keys with / and ~ stay as they are", () => {
  const before = pod({ containers: [{ name: "app", image: "app", command: ["run"] }] });
  before.metadata.annotations = { ...before.metadata.annotations, "x.io/a~b": "kept" };
  const after = mutated(before);
  const ops = podPatch(before, after);
  for (const op of ops) {
    // The annotations go as one map, so no key is ever written into a JSON pointer.
    assert(
      /^\/(metadata\/annotations|spec\/(initContainers|containers|volumes))$/.test(op.path),
      op.path,
    );
  }
  const applied = applyPatch(json(before), ops) as Pod;
  assertEquals(applied.metadata.annotations, json(after.metadata.annotations));
  assertEquals(applied.metadata.annotations?.["x.io/a~b"], "kept");
});

Deno.test("podPatch() is empty for an unchanged Pod, and names only the lists that changed", () => {
  const before = pod({ containers: [{ name: "app", image: "app", command: ["run"] }] });
  assertEquals(podPatch(before, before), []);
  const copy = { ...before, spec: { ...before.spec, containers: [...before.spec.containers] } };
  assertEquals(podPatch(before, copy), [], "the same items in a new list are no change");
  const one = { ...before, spec: { ...before.spec, volumes: [{ name: "v", emptyDir: {} }] } };
  assertEquals(podPatch(before, one as Pod), [{
    op: "add",
    path: "/spec/volumes",
    value: [{ name: "v", emptyDir: {} }],
  }]);
});
