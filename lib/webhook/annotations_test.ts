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

Deno.test("readPodOptions() checks auth-path and env-from-path with the injector's parsers", () => {
  const ok = readPodOptions({
    [A + "role"]: "r",
    [A + "auth-path"]: "remote-kube-1",
    [A + "env-from-path"]: "demo-kv/data/common-secret,demo-kv/data/myapp-secret#4",
  });
  assertEquals([ok.authPath, ok.envFromPath], [
    "remote-kube-1",
    "demo-kv/data/common-secret,demo-kv/data/myapp-secret#4",
  ]);
  const cases: Array<[string, string, string]> = [
    ["auth-path", "../../sys/raw", 'segment ".." is not allowed'],
    ["auth-path", "kubernetes_local/login?", 'character "?"'],
    ["auth-path", "/kubernetes_local", 'starts with "/"'],
    ["env-from-path", "demo-kv/data/ok,demo-kv/data/%2e%2e/x", 'entry "demo-kv/data/%2e%2e/x"'],
    ["env-from-path", "demo-kv/data/x#latest", 'has version "latest"'],
    ["env-from-path", "demo-kv/data/x?version=1", 'character "?"'],
  ];
  for (const [name, value, part] of cases) {
    const e = assertThrows(
      () => readPodOptions({ [A + "role"]: "r", [A + name]: value }),
      AnnotationError,
    );
    assertStringIncludes(e.message, `${A}${name}: `);
    assertStringIncludes(e.message, part);
  }
});

Deno.test("readPodOptions() refuses an http addr unless the installation allows it, and odd addresses always", () => {
  const http = { [A + "role"]: "r", [A + "addr"]: "http://store:8200" };
  const e = assertThrows(() => readPodOptions(http), AnnotationError);
  assertStringIncludes(e.message, `${A}addr: Invalid store address "http://store:8200"`);
  assertStringIncludes(e.message, "connection.allowInsecureHttp");
  assertEquals(readPodOptions(http, { allowInsecureHttp: true }).addr, "http://store:8200");
  for (const addr of ["https://u:p@store", "https://store/?x=1", "https://store/#x", "ftp://s"]) {
    assertStringIncludes(
      assertThrows(
        () =>
          readPodOptions({ [A + "role"]: "r", [A + "addr"]: addr }, { allowInsecureHttp: true }),
        AnnotationError,
      ).message,
      `${A}addr: Invalid store address`,
    );
  }
  assertEquals(
    readPodOptions({ [A + "role"]: "r", [A + "addr"]: "https://proxy.example/vault" }).addr,
    "https://proxy.example/vault",
  );
});
