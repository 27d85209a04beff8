import { assert, assertEquals, assertStringIncludes } from "../../tests/harness/assert.ts";
import { ConnectionSettingsSchema } from "../config/connection.ts";
import { createLogger } from "../log/logger.ts";
import type { Timers } from "../sys/kept_value.ts";
import type { ApiPath } from "./api_path.ts";
import { KubeError } from "./client.ts";
import { keepStoreDefaults, readStrongholdCa } from "./stronghold_ca.ts";

const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

/** An API server holding at most the Stronghold Secret, as `data` (undefined: 404). */
function fakeKube() {
  const asked: string[] = [];
  const api = {
    data: undefined as Record<string, string> | undefined,
    asked,
    get<T>(path: ApiPath): Promise<T> {
      asked.push(path);
      if (!api.data) return Promise.reject(new KubeError(404, path, "not found (HTTP 404)"));
      return Promise.resolve({ data: api.data } as T);
    },
  };
  return api;
}

/** Timers that only run when told to. */
function heldTimers() {
  const due: Array<() => void> = [];
  const timers: Timers = { set: (fn) => due.push(fn), clear: () => {} };
  return { timers, fireAll: () => due.splice(0).forEach((fn) => fn()) };
}

function logs() {
  const lines: Array<Record<string, unknown>> = [];
  const logger = createLogger({ json: true, write: (l) => lines.push(JSON.parse(l)) });
  return { lines, logger };
}

const discover = ConnectionSettingsSchema.parse({});

Deno.test("keepStoreDefaults() without the Secret starts unknown, warns naming the Secret and the fix, and picks the CA up once it exists", async () => {
  const kube = fakeKube();
  const { lines, logger } = logs();
  const { timers, fireAll } = heldTimers();
  const known: boolean[] = [];
  const kept = await keepStoreDefaults(discover, {
    kube,
    logger,
    timers,
    onCaKnown: (k) => known.push(k),
  });
  assertEquals(kept.caKnown(), false);
  const d = kept.current();
  assertEquals([d.address, d.caCert], ["https://stronghold.d8-stronghold.svc:8300", undefined]);
  assertStringIncludes(d.caMissing!, "Secret d8-stronghold/stronghold-tls key ca.crt");
  assertStringIncludes(d.caMissing!, "and Secret d8-stronghold/stronghold-tls does not exist;");
  const warnings = lines.filter((l) => l.level === "warn");
  assertEquals(warnings.length, 1);
  assertStringIncludes(
    String(warnings[0]!.msg),
    "install Stronghold, or set connectionConfiguration: Manual",
  );
  assertEquals(known, [false]);
  // The same failure again: no second warning.
  fireAll();
  await kept.settled();
  assertEquals(lines.filter((l) => l.level === "warn").length, 1);
  kube.data = { "ca.crt": btoa(PEM) };
  fireAll();
  await kept.settled();
  assertEquals(kept.current().caCert, PEM);
  assertEquals(kept.current().caMissing, undefined);
  assertEquals(known, [false, true]);
  assert(lines.some((l) => l.msg === "Stronghold's CA read"), JSON.stringify(lines));
  kept.close();
});

Deno.test("keepStoreDefaults() reads nothing for Manual or for DiscoverLocalStronghold with connection.caCert", async () => {
  for (
    const raw of [
      { connectionConfiguration: "Manual", connection: { url: "https://vault:8200" } },
      { connection: { caCert: PEM } },
    ]
  ) {
    const kube = fakeKube();
    const known: boolean[] = [];
    const kept = await keepStoreDefaults(ConnectionSettingsSchema.parse(raw), {
      kube,
      logger: logs().logger,
      onCaKnown: (k) => known.push(k),
    });
    assertEquals(kube.asked, []);
    assertEquals(kept.current().caMissing, undefined);
    assertEquals(known, [true]);
    kept.close();
  }
});

Deno.test("readStrongholdCa() names the Secret and key at fault and never shows their content", async () => {
  const kube = fakeKube();
  const cases: Array<[Record<string, string>, string]> = [
    [{ "tls.crt": btoa(PEM) }, "Secret d8-stronghold/stronghold-tls has no key ca.crt"],
    [
      { "ca.crt": btoa("hunter2 not a cert") },
      "key ca.crt of Secret d8-stronghold/stronghold-tls holds no PEM",
    ],
    [{ "ca.crt": "%%%" }, "key ca.crt of Secret d8-stronghold/stronghold-tls is not base64"],
  ];
  for (const [data, message] of cases) {
    kube.data = data;
    const e = await readStrongholdCa(kube).then(() => undefined, (e: Error) => e);
    assertStringIncludes(e!.message, message);
    assert(!e!.message.includes("hunter2"), e!.message);
  }
  assertEquals(kube.asked[0], "/api/v1/namespaces/d8-stronghold/secrets/stronghold-tls");
  // No Role to read it (strongholdCaRole): the reason says where the Role comes from.
  const forbidden = await readStrongholdCa({
    get: (path) => Promise.reject(new KubeError(403, path, "forbidden (HTTP 403)")),
  }).then(() => undefined, (e: Error) => e);
  assertStringIncludes(
    forbidden!.message,
    "reading Secret d8-stronghold/stronghold-tls is forbidden",
  );
  assertStringIncludes(forbidden!.message, "strongholdCaRole");
});
