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
    restartOnSecretChange: "none",
    secretPollInterval: undefined,
    serviceAccountTokenPath: undefined,
    envInjectorPullPolicy: undefined,
    revokeToken: true,
  });
});

Deno.test("readPodOptions() reads revoke-token, on unless false, and refuses other words", () => {
  const read = (v: string) => readPodOptions({ [A + "role"]: "r", [A + "revoke-token"]: v });
  assertEquals(read("false").revokeToken, false);
  assertEquals(read(" FALSE ").revokeToken, false);
  assertEquals(read("true").revokeToken, true);
  assertEquals(read("").revokeToken, true);
  const e = assertThrows(() => read("off"), AnnotationError);
  assertStringIncludes(
    e.message,
    'secrets-store.deckhouse.io/revoke-token: "off" is not true or false',
  );
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

Deno.test("readPodOptions() takes the module's restart, poll, token-path and pull-policy annotations", () => {
  const o = readPodOptions({
    [A + "role"]: "r",
    [A + "restart-on-secret-change"]: "watch-for-data",
    [A + "secret-poll-interval"]: "90s",
    [A + "service-account-token-path"]: "/var/run/secrets/tokens/store-token",
    [A + "env-injector-pull-policy"]: "Always",
  });
  assertEquals(o.restartOnSecretChange, "watch-for-data");
  assertEquals(o.secretPollInterval, "90s");
  assertEquals(o.serviceAccountTokenPath, "/var/run/secrets/tokens/store-token");
  assertEquals(o.envInjectorPullPolicy, "Always");
  for (const mode of ["none", "watch-for-lease"]) {
    assertEquals(
      readPodOptions({ [A + "role"]: "r", [A + "restart-on-secret-change"]: mode })
        .restartOnSecretChange,
      mode,
    );
  }
});

for (
  const [name, value, words] of [
    ["restart-on-secret-change", "always", "not one of none, watch-for-data, watch-for-lease"],
    ["restart-on-secret-change", "Watch-For-Data", "not one of"],
    ["secret-poll-interval", "4s", "shorter than the minimum 5s"],
    ["secret-poll-interval", "25h", "longer than the maximum 24h"],
    ["secret-poll-interval", "0", "at least 1ms"],
    ["secret-poll-interval", "soon", "Cannot parse duration"],
    ["service-account-token-path", "token", "not an absolute path"],
    ["service-account-token-path", "/var/run/../../etc/shadow", '".." segment'],
    ["service-account-token-path", "/var//token", "empty"],
    ["service-account-token-path", "/var/tok\u0001en", "control character"],
    ["service-account-token-path", "/" + "a".repeat(4096), "longer than 4095 bytes"],
    ["env-injector-pull-policy", "always", "not one of Always, IfNotPresent, Never"],
  ] as const
) {
  Deno.test(`readPodOptions() refuses ${name}: ${JSON.stringify(value).slice(0, 40)}, naming it`, () => {
    const e = assertThrows(
      () => readPodOptions({ [A + "role"]: "r", [A + name]: value }),
      AnnotationError,
    );
    assertStringIncludes(e.message, `${A}${name}: `);
    assertStringIncludes(e.message, words);
  });
}

Deno.test("the installation's skip list applies until skip-mutate-containers replaces it", () => {
  const rules = { allowInsecureHttp: false, skipContainers: ["istio-proxy", "istio-init"] };
  assertEquals(readPodOptions({ [A + "role"]: "r" }, rules).skipMutateContainers, [
    "istio-proxy",
    "istio-init",
  ]);
  assertEquals(
    readPodOptions({ [A + "role"]: "r", [A + "skip-mutate-containers"]: "sidecar" }, rules)
      .skipMutateContainers,
    ["sidecar"],
  );
  // Set but empty: the Pod asks for every container, the mesh's included.
  assertEquals(
    readPodOptions({ [A + "role"]: "r", [A + "skip-mutate-containers"]: "" }, rules)
      .skipMutateContainers,
    [],
  );
});
