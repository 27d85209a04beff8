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
    SECRETS_STORE_ENV_FROM_PATH: " demo-kv/data/common-secret , demo-kv/data/myapp-secret,",
  });
  assertEquals(s.address, "https://stronghold.mycompany.tld:8200");
  assertEquals([s.role, s.authPath, s.namespace], ["myapp-role", "remote-kube-1", "team-a"]);
  assertEquals([s.skipVerify, s.ignoreMissing, s.jsonLog, s.logLevel], [true, true, true, "debug"]);
  assertEquals(s.clientTimeoutMs, 90_000);
  assertEquals(s.envFromPath, ["demo-kv/data/common-secret", "demo-kv/data/myapp-secret"]);
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
