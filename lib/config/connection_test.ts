import { assert, assertEquals, assertStringIncludes } from "../../tests/harness/assert.ts";
import type { Kept } from "../sys/kept_value.ts";
import {
  ConnectionSettingsSchema,
  currentDefaults,
  needsLocalCa,
  storeDefaults,
} from "./connection.ts";
import { describeIssues } from "./issues.ts";

function issues(raw: unknown): string {
  const r = ConnectionSettingsSchema.safeParse(raw);
  assert(!r.success, "expected the settings to be refused");
  return describeIssues(r.error.issues);
}

Deno.test("connection.url must be https unless connection.allowInsecureHttp is true", () => {
  const http = { connectionConfiguration: "Manual", connection: { url: "http://store:8200" } };
  const e = issues(http);
  assertStringIncludes(e, 'connection.url: Invalid store address "http://store:8200"');
  assertStringIncludes(e, "connection.allowInsecureHttp: true");
  const ok = ConnectionSettingsSchema.parse({
    ...http,
    connection: { ...http.connection, allowInsecureHttp: true },
  });
  assertEquals(ok.connection.allowInsecureHttp, true);
  assertEquals(ConnectionSettingsSchema.parse({}).connection.allowInsecureHttp, false);
});

Deno.test("connection.url refuses credentials, a query and a fragment; keeps a path prefix", () => {
  for (const url of ["https://u:p@store", "https://store/?x=1", "https://store/#f", "store:8200"]) {
    assertStringIncludes(issues({ connection: { url } }), "connection.url: Invalid store address");
  }
  assertEquals(
    ConnectionSettingsSchema.parse({ connection: { url: "https://proxy.example/vault" } })
      .connection.url,
    "https://proxy.example/vault",
  );
});

Deno.test("connection.authPath is a checked store path", () => {
  assertStringIncludes(
    issues({ connection: { authPath: "../sys" } }),
    'connection.authPath: Invalid store path "../sys": segment ".." is not allowed',
  );
  assertEquals(
    ConnectionSettingsSchema.parse({ connection: { authPath: "main-kube" } }).connection.authPath,
    "main-kube",
  );
});

Deno.test("currentDefaults() follows Stronghold's CA: missing naming the Secret, then the CA, one object per state", () => {
  const s = ConnectionSettingsSchema.parse({});
  let ca: Kept<string> = { known: false, reason: "cannot read Secret: 404" };
  const current = currentDefaults(s, () => ca);
  const before = current();
  assertEquals(before.caCert, undefined);
  assertStringIncludes(before.caMissing!, ", and cannot read Secret: 404;");
  assertStringIncludes(before.caMissing!, "Secret d8-stronghold/stronghold-tls key ca.crt");
  assert(current() === before, "worked out again although nothing changed");
  ca = { known: true, value: "PEM" };
  assertEquals([current().caCert, current().caMissing], ["PEM", undefined]);
  assertEquals(needsLocalCa(s), true);
  const own = ConnectionSettingsSchema.parse({ connection: { caCert: PEM } });
  assertEquals([needsLocalCa(own), storeDefaults(own).caCert], [false, PEM]);
});

const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
