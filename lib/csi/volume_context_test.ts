import { assertEquals, assertStringIncludes, assertThrows } from "../../tests/harness/assert.ts";
import { CsiError } from "./errors.ts";
import { readVolumeContext, tokenFor } from "./volume_context.ts";

const K = "csi.storage.k8s.io/";
const ctx = {
  secretsStoreImport: "myapp-ssi",
  [K + "ephemeral"]: "true",
  [K + "pod.namespace"]: "myapp-namespace",
  [K + "pod.name"]: "myapp3",
  [K + "pod.uid"]: "uid-1",
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
    uid: "uid-1",
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

function assert(c: boolean) {
  assertEquals(c, true);
}
