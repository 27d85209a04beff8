import {
  assert,
  assertEquals,
  assertStringIncludes,
  assertThrows,
} from "../../tests/harness/assert.ts";
import {
  checkNamespace,
  checkObjectName,
  clusterObjectPath,
  CSI_DRIVERS,
  CSI_NODES,
  EVENTS,
  KubeNameError,
  MUTATING_WEBHOOK_CONFIGURATIONS,
  namespacedCollectionPath,
  namespacedObjectPath,
  type Resource,
  SECRETS,
  SERVICE_ACCOUNTS,
} from "./api_path.ts";

const SSI: Resource = { group: "deckhouse.io", version: "v1alpha1", plural: "secretsstoreimports" };
const ns = (value: string) => ({ field: "request.namespace", value });
const name = (value: string) => ({ field: "spec.imagePullSecrets[1].name", value });

/** Names refused both as a namespace and as an object name (HOSTILE-INPUTS.md). */
const HOSTILE: Array<[string, string]> = [
  ["dot-dot", ".."],
  ["dot", "."],
  ["empty", ""],
  ["slash", "/"],
  ["slash inside", "a/b"],
  ["trailing slash", "a/"],
  ["leading slash", "/a"],
  ["double slash", "a//b"],
  ["escape to another namespace", "../../other-ns/secrets/x"],
  ["encoded dot-dot", "%2e%2e"],
  ["encoded dot-dot, upper case", "%2E%2E"],
  ["encoded slash", "%2F"],
  ["encoded NUL", "%00"],
  ["query", "a?x=1"],
  ["fragment", "a#frag"],
  ["semicolon", "a;b"],
  ["upper case", "A"],
  ["mixed case", "regCred"],
  ["non-ASCII", "пароль"],
  ["accented", "café"],
  ["combining character", "cafe\u0301"],
  ["NUL", "a\u0000b"],
  ["newline at the end", "a\n"],
  ["tab", "a\tb"],
  ["DEL", "a\u007f"],
  ["space inside", "a b"],
  ["space at the end", "a "],
  ["backslash", "a\\b"],
  ["leading hyphen", "-a"],
  ["trailing hyphen", "a-"],
  ["underscore", "a_b"],
  ["colon", "a:b"],
  ["254 characters", "a".repeat(254)],
];

for (const [what, value] of HOSTILE) {
  Deno.test(`namespacedObjectPath() refuses a name that is ${what}, naming the field and the value`, () => {
    const e = assertThrows(
      () => namespacedObjectPath(SECRETS, ns("team-a"), name(value)),
      KubeNameError,
    );
    assertEquals([e.field, e.value], ["spec.imagePullSecrets[1].name", value]);
    assertStringIncludes(e.message, `spec.imagePullSecrets[1].name: ${JSON.stringify(value)}`);
    assertStringIncludes(e.message, "is not a valid object name (a DNS-1123 subdomain");
  });
  Deno.test(`namespacedObjectPath() refuses a namespace that is ${what}, naming the field and the value`, () => {
    const e = assertThrows(
      () => namespacedObjectPath(SECRETS, ns(value), name("regcred")),
      KubeNameError,
    );
    assertEquals([e.field, e.value], ["request.namespace", value]);
    assertStringIncludes(e.message, `request.namespace: ${JSON.stringify(value)}`);
    assertStringIncludes(e.message, "is not a valid namespace name (a DNS-1123 label");
  });
  Deno.test(`clusterObjectPath() refuses a name that is ${what}, naming the field and the value`, () => {
    const e = assertThrows(
      () => clusterObjectPath(CSI_NODES, { field: "--node", value }),
      KubeNameError,
    );
    assertEquals([e.field, e.value], ["--node", value]);
    assertStringIncludes(e.message, `--node: ${JSON.stringify(value)} is not a valid object name`);
  });
}

/** Valid object names but not valid namespaces: a namespace is one label of at most 63. */
const SUBDOMAIN_ONLY: Array<[string, string]> = [
  ["a dotted subdomain", "registry.example.com"],
  ["a 64-character label", "a".repeat(64)],
  ["253 characters", `${"a".repeat(63)}.${"b".repeat(63)}.${"c".repeat(63)}.${"d".repeat(61)}`],
];

for (const [what, value] of SUBDOMAIN_ONLY) {
  Deno.test(`checkObjectName() accepts ${what}, and checkNamespace() refuses it`, () => {
    assertEquals(checkObjectName("f", value), value);
    const e = assertThrows(() => checkNamespace("f", value), KubeNameError);
    assertStringIncludes(e.message, `f: ${JSON.stringify(value)} is not a valid namespace name`);
  });
}

Deno.test("the 253-character name is at the limit, one more is refused", () => {
  const at = SUBDOMAIN_ONLY[2]![1];
  assertEquals(at.length, 253);
  assertThrows(() => checkObjectName("f", at + "e"), KubeNameError);
});

Deno.test("checkNamespace() accepts labels up to 63 characters", () => {
  for (const v of ["a", "0", "team-a", "a1-b2", "a".repeat(63)]) {
    assertEquals(checkNamespace("f", v), v);
  }
});

Deno.test("namespacedObjectPath() builds core and group paths", () => {
  const cases: Array<[Resource, string, string, string]> = [
    [SECRETS, "team-a", "regcred", "/api/v1/namespaces/team-a/secrets/regcred"],
    [
      SERVICE_ACCOUNTS,
      "kube-system",
      "default",
      "/api/v1/namespaces/kube-system/serviceaccounts/default",
    ],
    [
      SECRETS,
      "d8-stronghold",
      "stronghold-tls.v1",
      "/api/v1/namespaces/d8-stronghold/secrets/stronghold-tls.v1",
    ],
    [
      SSI,
      "myapp-namespace",
      "myapp-ssi",
      "/apis/deckhouse.io/v1alpha1/namespaces/myapp-namespace/secretsstoreimports/myapp-ssi",
    ],
  ];
  for (const [r, n, o, want] of cases) {
    assertEquals(namespacedObjectPath(r, ns(n), name(o)) as string, want);
  }
});

Deno.test("clusterObjectPath() builds paths of cluster-scoped objects", () => {
  const cases: Array<[Resource, string, string]> = [
    [
      CSI_DRIVERS,
      "secrets-store.csi.deckhouse.io",
      "/apis/storage.k8s.io/v1/csidrivers/secrets-store.csi.deckhouse.io",
    ],
    [CSI_NODES, "node-1", "/apis/storage.k8s.io/v1/csinodes/node-1"],
    [
      MUTATING_WEBHOOK_CONFIGURATIONS,
      "secrets-store-webhook",
      "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/secrets-store-webhook",
    ],
    [{ group: "", version: "v1", plural: "nodes" }, "n", "/api/v1/nodes/n"],
  ];
  for (const [r, n, want] of cases) {
    assertEquals(clusterObjectPath(r, { field: "f", value: n }) as string, want);
  }
});

Deno.test("a built path resolves against a server URL to itself", () => {
  // KubeClient resolves the path with new URL(): nothing in it may be read as "..", "?" or "#".
  const path = namespacedObjectPath(SECRETS, ns("team-a"), name("a.b-c.d"));
  const url = new URL(path, "https://10.0.0.1:6443");
  assertEquals([url.pathname, url.search, url.hash], [path as string, "", ""]);
});

Deno.test("a long hostile value is cut in the message", () => {
  const e = assertThrows(() => checkObjectName("f", "/".repeat(100_000)), KubeNameError);
  assert(e.message.length < 600, `${e.message.length} characters`);
  assertEquals(e.value.length, 100_000);
});

Deno.test("a resource's group, version and plural stay one segment each, whatever they hold", () => {
  // Constants of the product today; the encoding is what keeps a looser one from adding a
  // segment, a query or a fragment to the path.
  const odd: Resource = { group: "x/../y", version: "v1?a=1", plural: "p#q" };
  assertEquals(
    namespacedObjectPath(odd, ns("team-a"), name("regcred")) as string,
    "/apis/x%2F..%2Fy/v1%3Fa%3D1/namespaces/team-a/p%23q/regcred",
  );
});

Deno.test("namespacedCollectionPath() builds the Events API collection, and refuses a hostile namespace", () => {
  assertEquals(
    namespacedCollectionPath(EVENTS, ns("team-a")) as string,
    "/apis/events.k8s.io/v1/namespaces/team-a/events",
  );
  assertEquals(
    namespacedObjectPath(EVENTS, ns("team-a"), name("web.1a2b")) as string,
    "/apis/events.k8s.io/v1/namespaces/team-a/events/web.1a2b",
  );
  for (const [, value] of HOSTILE) {
    const e = assertThrows(() => namespacedCollectionPath(EVENTS, ns(value)), KubeNameError);
    assertEquals(e.field, "request.namespace");
  }
});
