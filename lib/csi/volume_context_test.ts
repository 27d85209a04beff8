import { assertEquals, assertStringIncludes, assertThrows } from "../../tests/harness/assert.ts";
import { CsiError } from "./errors.ts";
import { bindTokens, readVolumeContext, tokenFor } from "./volume_context.ts";

const K = "csi.storage.k8s.io/";
const UID = "6f0b8c1e-2a4d-4c3e-9b7a-0d1e2f3a4b5c";
const ctx = {
  secretsStoreImport: "myapp-ssi",
  [K + "ephemeral"]: "true",
  [K + "pod.namespace"]: "myapp-namespace",
  [K + "pod.name"]: "myapp3",
  [K + "pod.uid"]: UID,
  [K + "serviceAccount.name"]: "myapp-sa",
  [K + "serviceAccount.tokens"]: JSON.stringify({
    "": { token: "jwt-default", expirationTimestamp: "x" },
    vault: { token: "jwt-vault" },
  }),
};

Deno.test("readVolumeContext() reads the kubelet's pod info and tokens", () => {
  const r = readVolumeContext(ctx);
  assertEquals(r.ssiName, "myapp-ssi");
  assertEquals(r.pod, {
    namespace: "myapp-namespace",
    name: "myapp3",
    uid: UID,
    serviceAccount: "myapp-sa",
  });
  assertEquals(tokenFor(r.tokens, undefined), "jwt-default");
  assertEquals(tokenFor(r.tokens, "vault"), "jwt-vault");
});

Deno.test("readVolumeContext() says what is missing and how to fix it", () => {
  const noSsi = assertThrows(() => readVolumeContext({ ...ctx, secretsStoreImport: "" }), CsiError);
  assertStringIncludes(noSsi.message, "volumeAttributes.secretsStoreImport");
  const { [K + "pod.name"]: _, ...noPod } = ctx;
  assertStringIncludes(
    assertThrows(() => readVolumeContext(noPod), CsiError).message,
    "podInfoOnMount",
  );
  const other = assertThrows(() => tokenFor(readVolumeContext(ctx).tokens, "other"), CsiError);
  assertStringIncludes(other.message, 'audience "other"');
  assert(!other.message.includes("jwt-"));
});

Deno.test("readVolumeContext() refuses Pod fields that are not Kubernetes names", () => {
  for (
    const [key, value] of [
      ["pod.namespace", "../other"],
      ["pod.name", "a/b"],
      ["serviceAccount.name", "sa?x=1"],
      ["pod.uid", "../../x"],
    ]
  ) {
    const e = assertThrows(() => readVolumeContext({ ...ctx, [K + key!]: value! }), CsiError);
    assertStringIncludes(e.message, K + key!);
    assertEquals(e.code, 3);
  }
});

/** An unsigned JWT with `claims`: the driver reads claims, the store checks signatures. */
function jwt(claims: unknown): string {
  const b64 = (v: unknown) =>
    btoa(JSON.stringify(v)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  return `${b64({ alg: "RS256" })}.${b64(claims)}.c2lnbmF0dXJl`;
}

const goodClaims = {
  aud: ["https://kubernetes.default.svc", "vault"],
  exp: Math.floor(Date.now() / 1000) + 600,
  "kubernetes.io": {
    namespace: "myapp-namespace",
    serviceaccount: { name: "myapp-sa", uid: "sa-uid" },
    pod: { name: "myapp3", uid: UID },
  },
};

function withToken(token: string, audience = "") {
  return readVolumeContext({
    ...ctx,
    [K + "serviceAccount.tokens"]: JSON.stringify({ [audience]: { token } }),
  });
}

Deno.test("bindTokens() takes a token whose claims are the context's Pod", () => {
  const t = jwt(goodClaims);
  const bound = bindTokens(withToken(t, "vault"));
  assertEquals(bound.get("vault")?.jwt, t);
  assertEquals(bound.get("vault")?.claims.namespace, "myapp-namespace");
  assertEquals(bound.get("vault")?.claims.pod.uid, UID);
});

Deno.test("bindTokens() refuses a token that disagrees, is no JWT, is not Pod-bound, expired or for another audience, never showing it", () => {
  const k = goodClaims["kubernetes.io"];
  const cases: Array<[string, string, number, string]> = [
    ["", jwt({ ...goodClaims, "kubernetes.io": { ...k, namespace: "b" } }), 7, "pod.namespace"],
    [
      "",
      jwt({ ...goodClaims, "kubernetes.io": { ...k, serviceaccount: { name: "b", uid: "u" } } }),
      7,
      "serviceAccount.name",
    ],
    [
      "",
      jwt({ ...goodClaims, "kubernetes.io": { ...k, pod: { name: "x", uid: UID } } }),
      7,
      "pod.name",
    ],
    [
      "",
      jwt({ ...goodClaims, "kubernetes.io": { ...k, pod: { name: "myapp3", uid: "other" } } }),
      7,
      "pod.uid",
    ],
    ["", "not-a-jwt-at-all", 3, "not a JWT"],
    ["", "a.b!.c", 3, "not a JWT"],
    [
      "",
      jwt({
        ...goodClaims,
        "kubernetes.io": { namespace: k.namespace, serviceaccount: k.serviceaccount },
      }),
      3,
      "not bound to a Pod",
    ],
    ["", jwt({ ...goodClaims, exp: Math.floor(Date.now() / 1000) - 1 }), 7, "expired"],
    ["other", jwt(goodClaims), 7, 'not for audience "other"'],
  ];
  for (const [audience, token, code, words] of cases) {
    const e = assertThrows(() => bindTokens(withToken(token, audience)), CsiError);
    assertEquals(e.code, code, e.message);
    assertStringIncludes(e.message, words);
    assert(!e.message.includes(token.split(".")[1] ?? token));
  }
});

function assert(c: boolean) {
  assertEquals(c, true);
}
