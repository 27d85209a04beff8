import { assert, assertEquals, assertStringIncludes } from "../../tests/harness/assert.ts";
import { StoreError } from "../vault/errors.ts";
import { CsiError, status } from "./errors.ts";
import { CsiMetrics, MAX_ROLES, OTHER_ROLE } from "./metrics.ts";

const value = (text: string, series: string) =>
  text.split("\n").find((l) => l.startsWith(series + " "))?.slice(series.length + 1);

Deno.test("CSI metrics count calls by gRPC status, sweeps by outcome, store requests by kind", () => {
  let volumes = 3;
  const m = new CsiMetrics({ volumes: () => volumes, identities: () => 2 });
  m.call("publish", undefined, 0.02);
  m.call("publish", new CsiError(status.PERMISSION_DENIED, "x"), 0.01);
  m.call("publish", new Error("not a CsiError"), 0.01);
  m.call("unpublish", undefined, 0.001);
  m.sweep({
    volumes: 3,
    identities: 2,
    reads: 4,
    logins: 1,
    changedFiles: 2,
    failedVolumes: 1,
    ms: 5,
  }, 0.3);
  m.sweep({
    volumes: 3,
    identities: 2,
    reads: 4,
    logins: 0,
    changedFiles: 1,
    failedVolumes: 0,
    ms: 5,
  }, 0.2);
  m.sweep(undefined, 0.1);
  m.store("read", "ok");
  m.store("read", "not_found");
  m.store("login", "permission_denied");
  volumes = 1;
  const t = m.render();
  assertEquals(value(t, 'secrets_store_csi_publish_duration_seconds_count{outcome="ok"}'), "1");
  assertEquals(
    value(t, 'secrets_store_csi_publish_duration_seconds_count{outcome="permission_denied"}'),
    "1",
  );
  // Whatever else a handler throws, the endpoint answers INTERNAL (endpoint.ts), and so says the metric.
  assertEquals(
    value(t, 'secrets_store_csi_publish_duration_seconds_count{outcome="internal"}'),
    "1",
  );
  assertEquals(value(t, 'secrets_store_csi_unpublish_duration_seconds_count{outcome="ok"}'), "1");
  assertEquals(value(t, 'secrets_store_csi_rotation_duration_seconds_count{outcome="ok"}'), "1");
  assertEquals(
    value(t, 'secrets_store_csi_rotation_duration_seconds_count{outcome="partial"}'),
    "1",
  );
  assertEquals(value(t, 'secrets_store_csi_rotation_duration_seconds_count{outcome="error"}'), "1");
  assertEquals(value(t, "secrets_store_csi_files_changed_total"), "3");
  assertEquals(value(t, "secrets_store_csi_rotation_failed_volumes_total"), "1");
  assertEquals(value(t, 'secrets_store_csi_store_reads_total{outcome="ok"}'), "1");
  assertEquals(value(t, 'secrets_store_csi_store_reads_total{outcome="not_found"}'), "1");
  assertEquals(value(t, 'secrets_store_csi_store_logins_total{outcome="ok"}'), "0");
  assertEquals(value(t, 'secrets_store_csi_store_logins_total{outcome="permission_denied"}'), "1");
  assertEquals(value(t, "secrets_store_csi_volumes"), "1");
  assertEquals(value(t, "secrets_store_csi_identities"), "2");
  assert(/^secrets_store_build_info\{version="[^"]+",role="csi",/m.test(t), t);
  assert(/^process_resident_memory_bytes \d+$/m.test(t));
});

Deno.test("no label of the CSI metrics carries the Pod, the path, the volume or the secret of a failure", () => {
  const m = new CsiMetrics({ volumes: () => 1, identities: () => 1 });
  const pod = "myapp-7f9c5d-x2x", path = "demo-kv/data/myapp-secret", secret = "secret-password";
  const volume = "csi-0b6f3c1e-7c1a";
  const where = { address: "https://store.example:8200", operation: "read" as const, path };
  m.call("publish", new CsiError(status.NOT_FOUND, `${pod} ${path} ${secret} ${volume}`), 0.1);
  m.call(
    "unpublish",
    new CsiError(status.INTERNAL, `${volume} at /var/lib/kubelet/pods/${pod}`),
    0.1,
  );
  m.store("read", new StoreError("not_found", secret, where).kind);
  // The samples, without the HELP texts (which may name the kubelet).
  const text = m.render().split("\n").filter((l) => !l.startsWith("#")).join("\n");
  for (const s of [pod, path, secret, volume, "kubelet", "store.example", "myapp"]) {
    assert(!text.includes(s), `${s} in:\n${text}`);
  }
  // Every label value in the text is one the families declared: outcomes, store operations
  // and build facts (a role appears only once a request was sent for it).
  const values = [...text.matchAll(/(\w+)="([^"]*)"/g)].map(([, k, v]) => `${k}=${v}`);
  for (const v of values) {
    assert(
      /^(outcome=[a-z_]+|operation=(login|read|write|renew|revoke|renew_lease|revoke_lease)|le=[0-9.e+Inf]+|version=.*|role=csi|deno_version=.*|platform=.*)$/
        .test(v),
      v,
    );
  }
});

Deno.test("the Event recorder's dropped and failed counts are counters read at each scrape", () => {
  const stats = { dropped: 0, failed: 0 };
  const m = new CsiMetrics({ volumes: () => 0, identities: () => 0, events: () => stats });
  assertStringIncludes(m.render(), "# TYPE secrets_store_csi_events_dropped_total counter\n");
  stats.dropped = 3;
  stats.failed = 1;
  const text = m.render();
  assertStringIncludes(text, "\nsecrets_store_csi_events_dropped_total 3\n");
  assertStringIncludes(text, "\nsecrets_store_csi_events_failed_total 1\n");
});

Deno.test("CSI metrics count store requests by operation, outcome and role, at most MAX_ROLES roles, and time them", () => {
  const m = new CsiMetrics({ volumes: () => 0, identities: () => 0 });
  m.request("login", "ok", "myapp-role", 0.004);
  m.request("read", "ok", "myapp-role", 0.02);
  m.request("read", "denied", "myapp-role", 0.02);
  m.request("revoke", "ok", "myapp-role", 0.003);
  for (let i = 0; i < MAX_ROLES + 10; i++) m.request("read", "ok", `team-${i}`, 0.01);
  m.request("read", "ok", "not a role name\n", 0.01);
  const t = m.render();
  const req = (labels: string) => value(t, `secrets_store_store_requests_total{${labels}}`);
  assertEquals(req('operation="login",outcome="ok",store_role="myapp-role"'), "1");
  assertEquals(req('operation="read",outcome="ok",store_role="myapp-role"'), "1");
  assertEquals(req('operation="read",outcome="denied",store_role="myapp-role"'), "1");
  assertEquals(req('operation="revoke",outcome="ok",store_role="myapp-role"'), "1");
  assertEquals(req('operation="read",outcome="ok",store_role="team-0"'), "1");
  // myapp-role took one of the 64: team-0 to team-62 have their own, the rest and the
  // name no store would accept count as "other".
  assertEquals(req(`operation="read",outcome="ok",store_role="team-${MAX_ROLES - 2}"`), "1");
  assertEquals(req(`operation="read",outcome="ok",store_role="team-${MAX_ROLES - 1}"`), undefined);
  assertEquals(req(`operation="read",outcome="ok",store_role="${OTHER_ROLE}"`), "12");
  const roles = new Set(
    t.split("\n").filter((l) => l.startsWith("secrets_store_store_requests_total{"))
      .map((l) => l.match(/store_role="([^"]*)"/)![1]),
  );
  assertEquals(roles.size, MAX_ROLES + 1);
  assertEquals(
    value(t, 'secrets_store_store_request_duration_seconds_count{operation="read"}'),
    String(MAX_ROLES + 13),
  );
  assertEquals(
    value(t, 'secrets_store_store_request_duration_seconds_bucket{operation="login",le="0.005"}'),
    "1",
  );
  assert(!t.includes("not a role name"));
});
