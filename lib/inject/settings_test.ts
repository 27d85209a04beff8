import { assertEquals, assertStringIncludes, assertThrows } from "../../tests/harness/assert.ts";
import { readSettings, SettingsError, withoutSettings } from "./settings.ts";

Deno.test("readSettings() applies the guide's defaults", () => {
  const s = readSettings({});
  assertEquals(s.authPath, "kubernetes_local");
  assertEquals(s.clientTimeoutMs, 10_000);
  assertEquals([s.skipVerify, s.ignoreMissing, s.jsonLog, s.logLevel], [
    false,
    false,
    false,
    "info",
  ]);
  assertEquals(s.tokenFile, "/var/run/secrets/kubernetes.io/serviceaccount/token");
  assertEquals(s.envFromPath, []);
  assertEquals(s.revokeToken, true);
  assertEquals(s.allowLoginToken, false);
});

Deno.test("readSettings() reads SECRETS_STORE_ALLOW_LOGIN_TOKEN, off unless true, and the app never sees it", () => {
  const read = (v: string) => readSettings({ SECRETS_STORE_ALLOW_LOGIN_TOKEN: v }).allowLoginToken;
  assertEquals([read("true"), read("false"), read("")], [true, false, false]);
  const e = assertThrows(() => read("sure"), SettingsError);
  assertStringIncludes(e.message, 'SECRETS_STORE_ALLOW_LOGIN_TOKEN="sure" is not a boolean');
  assertEquals(withoutSettings({ SECRETS_STORE_ALLOW_LOGIN_TOKEN: "true", A: "1" }), { A: "1" });
});

Deno.test("readSettings() reads SECRETS_STORE_REVOKE_TOKEN, on when unset or empty", () => {
  const read = (v: string) => readSettings({ SECRETS_STORE_REVOKE_TOKEN: v }).revokeToken;
  assertEquals([read("false"), read("0"), read("no"), read(" False ")], [
    false,
    false,
    false,
    false,
  ]);
  assertEquals([read("true"), read("1"), read(""), read("  ")], [true, true, true, true]);
  const e = assertThrows(() => read("never"), SettingsError);
  assertStringIncludes(e.message, 'SECRETS_STORE_REVOKE_TOKEN="never" is not a boolean');
});

Deno.test("readSettings() reads every variable", () => {
  const s = readSettings({
    SECRETS_STORE_ADDR: "https://stronghold.mycompany.tld:8200",
    SECRETS_STORE_ROLE: "myapp-role",
    SECRETS_STORE_AUTH_PATH: "remote-kube-1",
    SECRETS_STORE_NAMESPACE: "team-a",
    SECRETS_STORE_TLS_SKIP_VERIFY: "true",
    SECRETS_STORE_IGNORE_MISSING_SECRETS: "True",
    SECRETS_STORE_CLIENT_TIMEOUT: "1m30s",
    SECRETS_STORE_LOG_LEVEL: "debug",
    SECRETS_STORE_JSON_LOG: "1",
    SECRETS_STORE_ENV_FROM_PATH: " demo-kv/data/common-secret , demo-kv/data/myapp-secret#4,",
  });
  assertEquals(s.address?.text, "https://stronghold.mycompany.tld:8200");
  assertEquals([s.role, s.authPath, s.namespace], ["myapp-role", "remote-kube-1", "team-a"]);
  assertEquals([s.skipVerify, s.ignoreMissing, s.jsonLog, s.logLevel], [true, true, true, "debug"]);
  assertEquals(s.clientTimeoutMs, 90_000);
  assertEquals(s.envFromPath, [
    { path: "demo-kv/data/common-secret" },
    { path: "demo-kv/data/myapp-secret", version: 4 },
  ]);
});

Deno.test("readSettings() refuses a bad store path, naming the variable and the entry", () => {
  const cases: Array<[Record<string, string>, string]> = [
    [
      { SECRETS_STORE_ENV_FROM_PATH: "demo-kv/data/ok,demo-kv/data/../other" },
      'SECRETS_STORE_ENV_FROM_PATH: entry "demo-kv/data/../other": Invalid store path "demo-kv/data/../other": segment ".." is not allowed',
    ],
    [
      { SECRETS_STORE_ENV_FROM_PATH: "demo-kv/data/x?version=1" },
      'SECRETS_STORE_ENV_FROM_PATH: entry "demo-kv/data/x?version=1": Invalid store path',
    ],
    [
      { SECRETS_STORE_ENV_FROM_PATH: "demo-kv/data/x#latest" },
      'SECRETS_STORE_ENV_FROM_PATH: entry "demo-kv/data/x#latest" has version "latest"',
    ],
    [
      { SECRETS_STORE_ENV_FROM_PATH: "demo-kv/data/x#1#2" },
      'SECRETS_STORE_ENV_FROM_PATH: entry "demo-kv/data/x#1#2" has 2 "#"',
    ],
    [
      { SECRETS_STORE_AUTH_PATH: "../sys" },
      'SECRETS_STORE_AUTH_PATH: Invalid store path "../sys": segment ".." is not allowed',
    ],
    [
      { SECRETS_STORE_AUTH_PATH: "kubernetes_local/login?x" },
      'SECRETS_STORE_AUTH_PATH: Invalid store path "kubernetes_local/login?x": character "?"',
    ],
  ];
  for (const [env, part] of cases) {
    assertStringIncludes(assertThrows(() => readSettings(env), SettingsError).message, part);
  }
});

Deno.test("readSettings() refuses an http address unless SECRETS_STORE_ALLOW_INSECURE_HTTP is true", () => {
  const e = assertThrows(
    () => readSettings({ SECRETS_STORE_ADDR: "http://store:8200" }),
    SettingsError,
  );
  assertStringIncludes(e.message, 'SECRETS_STORE_ADDR: Invalid store address "http://store:8200"');
  const s = readSettings({
    SECRETS_STORE_ADDR: "http://store:8200",
    SECRETS_STORE_ALLOW_INSECURE_HTTP: "true",
  });
  assertEquals(s.address?.insecure, true);
  for (const addr of ["https://u:p@store", "https://store/?a=1", "https://store/#f"]) {
    assertStringIncludes(
      assertThrows(() => readSettings({ SECRETS_STORE_ADDR: addr }), SettingsError).message,
      "SECRETS_STORE_ADDR: Invalid store address",
    );
  }
});

Deno.test("readSettings() keeps an address prefix", () => {
  const s = readSettings({ SECRETS_STORE_ADDR: "https://proxy.example/vault" });
  assertEquals([s.address?.origin, s.address?.prefix], ["https://proxy.example", "/vault"]);
});

Deno.test("readSettings() names each bad variable and value", () => {
  const e = assertThrows(() =>
    readSettings({
      SECRETS_STORE_TLS_SKIP_VERIFY: "maybe",
      SECRETS_STORE_CLIENT_TIMEOUT: "soon",
      SECRETS_STORE_LOG_LEVEL: "loud",
    }), SettingsError);
  assertStringIncludes(e.message, 'SECRETS_STORE_TLS_SKIP_VERIFY="maybe"');
  assertStringIncludes(e.message, 'SECRETS_STORE_CLIENT_TIMEOUT: Cannot parse duration "soon"');
  assertStringIncludes(e.message, 'SECRETS_STORE_LOG_LEVEL: Cannot parse log level "loud"');
});

Deno.test("withoutSettings() removes only the injector's own variables", () => {
  assertEquals(
    withoutSettings({
      SECRETS_STORE_ROLE: "r",
      SECRETS_STORE_ADDR: "a",
      SECRETS_STORE_ALLOW_INSECURE_HTTP: "true",
      SECRETS_STORE_OTHER: "app's",
      PATH: "/bin",
    }),
    { SECRETS_STORE_OTHER: "app's", PATH: "/bin" },
  );
});

Deno.test("withoutSettings() gives the app back its own LD_LIBRARY_PATH, or none", () => {
  const injector = { LD_LIBRARY_PATH: "/run/secrets-store/lib", A: "1" };
  assertEquals(withoutSettings({ ...injector, SECRETS_STORE_APP_LD_LIBRARY_PATH: "" }), { A: "1" });
  assertEquals(
    withoutSettings({ ...injector, SECRETS_STORE_APP_LD_LIBRARY_PATH: "/opt/app/lib" }),
    {
      A: "1",
      LD_LIBRARY_PATH: "/opt/app/lib",
    },
  );
  assertEquals(withoutSettings({ LD_LIBRARY_PATH: "/mine" }), { LD_LIBRARY_PATH: "/mine" });
});

Deno.test("readSettings() reads the launcher's open-files limit as ulimit prints it", () => {
  assertEquals(readSettings({ SECRETS_STORE_RLIMIT_NOFILE: "1024" }).launcherNofile, 1024n);
  assertEquals(
    readSettings({ SECRETS_STORE_RLIMIT_NOFILE: "unlimited" }).launcherNofile,
    0xffff_ffff_ffff_ffffn,
  );
  const e = assertThrows(
    () => readSettings({ SECRETS_STORE_RLIMIT_NOFILE: "-1" }),
    SettingsError,
  );
  assertStringIncludes(e.message, 'SECRETS_STORE_RLIMIT_NOFILE: "-1" is not a limit');
  assertEquals(withoutSettings({ SECRETS_STORE_RLIMIT_NOFILE: "1024", A: "b" }), { A: "b" });
});

Deno.test("readSettings() refuses a CA that is not PEM, naming the variable", () => {
  assertEquals(
    assertThrows(() => readSettings({ SECRETS_STORE_CA_CERT: "/etc/ssl/ca.crt" }), SettingsError)
      .message,
    "Invalid injector settings: SECRETS_STORE_CA_CERT: it is not a PEM certificate (no -----BEGIN CERTIFICATE----- line)",
  );
  assertEquals(readSettings({ SECRETS_STORE_CA_CERT: " " }).caCert, undefined);
});

Deno.test("readSettings() refuses a zero client-timeout written as 0, like 0s", () => {
  for (const zero of ["0", "0s"]) {
    assertStringIncludes(
      assertThrows(() => readSettings({ SECRETS_STORE_CLIENT_TIMEOUT: zero }), SettingsError)
        .message,
      `SECRETS_STORE_CLIENT_TIMEOUT: Cannot parse duration "${zero}": must be at least 1ms`,
    );
  }
});

Deno.test("readSettings() gives host:port without a scheme one message, naming the variable", () => {
  for (const addr of ["stronghold:8200", "10.0.0.1:8200"]) {
    assertStringIncludes(
      assertThrows(() => readSettings({ SECRETS_STORE_ADDR: addr }), SettingsError).message,
      `SECRETS_STORE_ADDR: Invalid store address "${addr}": it has no scheme: write https://host[:port][/prefix]`,
    );
  }
});

Deno.test("readSettings() reads the watch mode and poll interval, with the module's defaults", () => {
  const d = readSettings({});
  assertEquals([d.restartMode, d.pollIntervalMs, d.terminationLog], [
    "none",
    120_000,
    "/dev/termination-log",
  ]);
  const s = readSettings({
    SECRETS_STORE_RESTART_ON_SECRET_CHANGE: "watch-for-lease",
    SECRETS_STORE_SECRET_POLL_INTERVAL: "1m",
  });
  assertEquals([s.restartMode, s.pollIntervalMs], ["watch-for-lease", 60_000]);
});

Deno.test("readSettings() refuses a poll interval under 5s unless the tests' minimum lowers it", () => {
  const e = assertThrows(
    () => readSettings({ SECRETS_STORE_SECRET_POLL_INTERVAL: "1s" }),
    SettingsError,
  );
  assertStringIncludes(e.message, "SECRETS_STORE_SECRET_POLL_INTERVAL: ");
  assertStringIncludes(e.message, "shorter than the minimum 5s");
  const s = readSettings({
    SECRETS_STORE_SECRET_POLL_INTERVAL: "300ms",
    SECRETS_STORE_TEST_POLL_MINIMUM: "100ms",
  });
  assertEquals(s.pollIntervalMs, 300);
  const mode = assertThrows(
    () => readSettings({ SECRETS_STORE_RESTART_ON_SECRET_CHANGE: "yes" }),
    SettingsError,
  );
  assertStringIncludes(mode.message, "SECRETS_STORE_RESTART_ON_SECRET_CHANGE: ");
});
