import { assertEquals, assertStringIncludes, assertThrows } from "../../tests/harness/assert.ts";
import { AnnotationError, readPodOptions, wantsInjection } from "./annotations.ts";

const A = "secrets-store.deckhouse.io/";

Deno.test("wantsInjection() is driven by the role annotation alone", () => {
  assertEquals(wantsInjection({ [A + "role"]: "r" }), true);
  assertEquals(wantsInjection({ [A + "addr"]: "https://x" }), false);
  assertEquals(wantsInjection(undefined), false);
});

Deno.test("readPodOptions() applies the guide's defaults", () => {
  const o = readPodOptions({ [A + "role"]: "myapp-role" });
  assertEquals(o, {
    role: "myapp-role",
    addr: undefined,
    tlsSecret: undefined,
    tlsSkipVerify: false,
    authPath: undefined,
    namespace: undefined,
    envFromPath: undefined,
    ignoreMissingSecrets: false,
    clientTimeout: undefined,
    mutateProbes: false,
    logLevel: undefined,
    enableJsonLog: false,
    skipMutateContainers: [],
  });
});

Deno.test("readPodOptions() names every bad annotation", () => {
  const e = assertThrows(() =>
    readPodOptions({
      [A + "role"]: "",
      [A + "tls-skip-verify"]: "yes please",
      [A + "client-timeout"]: "ten",
      [A + "log-level"]: "chatty",
      [A + "addr"]: "stronghold:8200",
      [A + "tls-secret"]: "Not_A_Name",
    }), AnnotationError);
  for (
    const part of ["role", "tls-skip-verify", "client-timeout", "log-level", "addr", "tls-secret"]
  ) {
    assertStringIncludes(e.message, A + part);
  }
});
