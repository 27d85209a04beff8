/** `secrets-store csi serve` called the way the kubelet calls it, against the real OpenBao,
 * the real kube-apiserver (the project's SecretsStoreImport CRD applied, tokens from
 * TokenRequest) and real tmpfs and bind mounts. */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "./harness/assert.ts";
import {
  applySsiCrd,
  createPod,
  type CsiClient,
  csiClient,
  type CsiDriver,
  driverPid,
  kubeletContext,
  podToken,
  slowRenames,
  startCsi,
  type TestPod,
} from "./harness/csi.ts";
import { testEnv } from "./harness/env.ts";
import { Suite } from "./harness/suite.ts";
import { CSI_USER } from "./harness/kube.ts";
import { auditMark, describeRequests, requestsSince } from "./harness/kube_audit.ts";
import { eventsIn, waitForEvent } from "./harness/kube_events.ts";
import * as grpc from "@grpc/grpc-js";
import { freePort, waitUntil } from "./harness/process.ts";
import { registrationService } from "../lib/csi/proto.ts";
import { enableKubeAuth, GUIDE, liveTokens } from "./harness/store_setup.ts";
import { startLatencyProxy } from "./harness/latency_proxy.ts";
import { watchFile } from "./harness/inotify.ts";
import { bindReadOnly, isMountPoint, mountsBelow, mountTmpfs, unmount } from "../lib/csi/mount.ts";
import { saveState } from "../lib/csi/state.ts";
import { SsiSpec } from "../lib/csi/ssi.ts";

const env = testEnv();
const NS = GUIDE.namespace;
const DIR = `${env.dir}/csi`;
const KEYTAB = new Uint8Array(1024).map((_, i) => (i * 37 + 11) % 256); // every byte value, NULs included

interface Ctx {
  driver: CsiDriver;
  client: CsiClient;
}

const DRIVER_OPTS = () => ({
  dir: DIR,
  kube: { url: env.kube.url, caFile: env.kube.caFile, token: env.kube.csiToken },
  binary: env.binary,
  settings: csiSettings(env.bao.address),
  rotationInterval: "500ms",
});

function ssi(name: string, files: unknown[], extra: Record<string, unknown> = {}) {
  return {
    apiVersion: "deckhouse.io/v1alpha1",
    kind: "SecretsStoreImport",
    metadata: { name, namespace: NS },
    spec: { type: "CSI", role: "csi-test-role", files, ...extra },
  };
}

async function createSsi(body: ReturnType<typeof ssi>, allow: number[] = []) {
  return await env.kube.api<{ code?: number; message?: string }>(
    "POST",
    `/apis/deckhouse.io/v1alpha1/namespaces/${NS}/secretsstoreimports`,
    body,
    allow,
  );
}

/** The CRD, the store's roles and secrets, the SecretsStoreImports and the driver, made by
 * the first test that needs them; after the last test that runs, the driver (whichever a
 * test restarted last) is stopped and no mount may be left behind. */
const suite = new Suite<Ctx>({
  setUp: async () => {
    await applySsiCrd(env.kube);
    await env.bao.api("PUT", "sys/policies/acl/csi-test", {
      policy:
        'path "demo-kv/data/csi-*" { capabilities = ["read"] }\npath "demo-kv/data/myapp-secret" { capabilities = ["read"] }\n',
    });
    await env.bao.api("PUT", "auth/kubernetes_local/role/csi-test-role", {
      bound_service_account_names: GUIDE.serviceAccount,
      bound_service_account_namespaces: NS,
      policies: "csi-test",
      ttl: "10m",
    });
    await env.bao.api("PUT", "demo-kv/data/csi-keytab", {
      data: { keytab: btoa(String.fromCharCode(...KEYTAB)), broken: "this is not base64!" },
    });
    await env.bao.api("PUT", "demo-kv/data/csi-rotate", { data: { TOKEN: "first-value" } });
    // The guide's example, exactly: role myapp-role, file db-password from DB_PASS.
    await createSsi({
      ...ssi("myapp-ssi", [{
        name: "db-password",
        source: { path: "demo-kv/data/myapp-secret", key: "DB_PASS" },
      }]),
      spec: {
        type: "CSI",
        role: "myapp-role",
        files: [{
          name: "db-password",
          source: { path: "demo-kv/data/myapp-secret", key: "DB_PASS" },
        }],
      },
    });
    await createSsi(
      ssi("keytab-ssi", [{
        name: "keytab",
        decodeBase64: true,
        source: { path: "demo-kv/data/csi-keytab", key: "keytab" },
      }]),
    );
    await createSsi(
      ssi("bad-b64-ssi", [{
        name: "keytab",
        decodeBase64: true,
        source: { path: "demo-kv/data/csi-keytab", key: "broken" },
      }]),
    );
    await createSsi(
      ssi("missing-key-ssi", [{
        name: "x",
        source: { path: "demo-kv/data/csi-keytab", key: "NOPE" },
      }]),
    );
    await createSsi(
      ssi("forbidden-ssi", [{ name: "x", source: { path: "demo-kv/data/other-team", key: "K" } }]),
    );
    await createSsi(
      ssi("rotate-ssi", [{
        name: "token",
        source: { path: "demo-kv/data/csi-rotate", key: "TOKEN" },
      }]),
    );
    await env.bao.api("PUT", "demo-kv/data/csi-outage", { data: { TOKEN: "before-outage" } });
    const driver = await startCsi(DRIVER_OPTS());
    return { driver, client: csiClient(driver.socket) };
  },
  tearDown: async (c) => {
    if (tenants) {
      const { podB } = await tenants;
      await unpublish(`csi-${podB.uid}`, targetOf(podB));
    }
    c.client.close();
    await c.driver.stop();
    assertEquals(mountsBelow(DIR), [], "mounts left behind");
  },
  // The driver first (its mounts would change under it), then whatever it left mounted.
  onUnload: () => {
    try {
      Deno.kill(driverPid(`${DIR}/csi.sock`), "SIGKILL");
    } catch { /* not running */ }
    for (const m of mountsBelow(DIR)) unmount(m);
  },
});
const setUp = () => suite.ready();

function csiSettings(address: string): string {
  return [
    "connectionConfiguration: Manual",
    "connection:",
    `  url: ${address}`,
    "  caCert: |",
    ...env.bao.caCert.trim().split("\n").map((l) => `    ${l}`),
  ].join("\n");
}

let n = 0;
/** A new Pod of the guide's ServiceAccount, through the API server, and a token bound to it. */
async function newPod(
  namespace = NS,
  serviceAccount: string = GUIDE.serviceAccount,
): Promise<{ pod: TestPod; jwt: string }> {
  const pod = await createPod(env.kube, namespace, `myapp3-${++n}`, serviceAccount);
  return { pod, jwt: await podToken(env.kube, pod) };
}

/** Where the kubelet asks a CSI driver to mount an inline volume of `pod`. */
function targetOf(pod: TestPod, volume = "secrets"): string {
  return `${DIR}/pods/${pod.uid}/volumes/kubernetes.io~csi/${volume}/mount`;
}

const CAPABILITY = { mount: {}, accessMode: { mode: "SINGLE_NODE_READER_ONLY" } };

/** NodePublishVolume as the kubelet sends it for a new Pod; returns the target path. */
async function publish(
  ssiName: string,
  c?: CsiClient,
): Promise<{ volumeId: string; target: string; pod: TestPod }> {
  const { client } = await setUp();
  const { pod, jwt } = await newPod();
  const target = targetOf(pod);
  const volumeId = `csi-${pod.uid}`;
  await (c ?? client).call("Node", "NodePublishVolume", {
    volumeId,
    targetPath: target,
    volumeCapability: CAPABILITY,
    readonly: true,
    volumeContext: kubeletContext(ssiName, pod, { "": jwt }),
  });
  return { volumeId, target, pod };
}

async function unpublish(volumeId: string, target: string) {
  const { client } = await setUp();
  await client.call("Node", "NodeUnpublishVolume", { volumeId, targetPath: target });
}

suite.test("myapp3: the guide's myapp-ssi mounts db-password, read-only, with the password", async () => {
  const { volumeId, target } = await publish("myapp-ssi");
  assertEquals(await Deno.readTextFile(`${target}/db-password`), "secret-password");
  assert(isMountPoint(target));
  assertEquals((await Deno.stat(`${target}/db-password`)).mode! & 0o777, 0o444);
  const write = await Deno.writeTextFile(`${target}/db-password`, "x").then(
    () => "written",
    (e) => e.name,
  );
  assertEquals(
    write,
    "ReadOnlyFileSystem" in Deno.errors
      ? "ReadOnlyFileSystem"
      : write === "written"
      ? "refused"
      : write,
  );
  await unpublish(volumeId, target);
});

suite.test("the binary keytab arrives byte for byte", async () => {
  const { volumeId, target } = await publish("keytab-ssi");
  assertEquals(await Deno.readFile(`${target}/keytab`), KEYTAB);
  await unpublish(volumeId, target);
});

suite.test("invalid base64, a missing key and a forbidden path fail the publish and leave nothing mounted", async () => {
  const cases: Array<[string, number, string[]]> = [
    ["bad-b64-ssi", 9, ["bad-b64-ssi", 'file "keytab"', "not valid base64"]],
    ["missing-key-ssi", 9, ['key "NOPE" not found in demo-kv/data/csi-keytab']],
    ["forbidden-ssi", 7, ["demo-kv/data/other-team", "permission denied"]],
    ["no-such-ssi", 5, [`SecretsStoreImport ${NS}/no-such-ssi not found`]],
  ];
  for (const [name, code, parts] of cases) {
    const e = await assertRejects(() => publish(name), Error) as Error & {
      code: number;
      details: string;
    };
    assertEquals(e.code, code, `${name}: ${e.details}`);
    for (const p of parts) assertStringIncludes(e.details, p);
    assert(!e.details.includes("secret-password"));
  }
  const leftovers = [...Deno.readDirSync(`${DIR}/state/mounts`)].map((e) => e.name);
  for (const l of leftovers) assert(isMountPoint(`${DIR}/state/mounts/${l}`), `stale ${l}`);
});

suite.test("the CRD refuses file names like .. and a/b", async () => {
  for (const bad of ["..", ".", "a/b"]) {
    const r = await createSsi(
      ssi(`bad-name-${n++}`, [{ name: bad, source: { path: "p", key: "k" } }]),
      [422],
    );
    assertEquals(r.code, 422, bad);
  }
  const empty = await createSsi(ssi("no-files", []), [422]);
  assertEquals(empty.code, 422);
});

suite.test("publish is idempotent and unpublish removes everything", async () => {
  const { client } = await setUp();
  const first = await publish("myapp-ssi");
  const jwt = await podToken(env.kube, first.pod);
  await client.call("Node", "NodePublishVolume", {
    volumeId: first.volumeId,
    targetPath: first.target,
    volumeCapability: CAPABILITY,
    readonly: true,
    volumeContext: kubeletContext("myapp-ssi", first.pod, { "": jwt }),
  });
  assertEquals(await Deno.readTextFile(`${first.target}/db-password`), "secret-password");
  await unpublish(first.volumeId, first.target);
  await unpublish(first.volumeId, first.target); // twice: still fine
  assert(!isMountPoint(first.target));
  assertEquals(await Deno.stat(first.target).then(() => "exists", () => "gone"), "gone");
});

suite.test("an unpublished volume's identity, its last volume gone, leaves no live store token", async () => {
  await setUp();
  // A role of its own, so no other test's volume shares the identity's login.
  await env.bao.api("PUT", "auth/kubernetes_local/role/csi-revoke-role", {
    bound_service_account_names: GUIDE.serviceAccount,
    bound_service_account_namespaces: NS,
    policies: "csi-test",
    ttl: "10m",
  });
  await createSsi(
    ssi("revoke-ssi", [{
      name: "token",
      source: { path: "demo-kv/data/csi-rotate", key: "TOKEN" },
    }], {
      role: "csi-revoke-role",
    }),
  );
  const live = () => liveTokens(env.bao, "kubernetes_local", "csi-revoke-role");
  const a = await publish("revoke-ssi");
  // Each new volume's token is proven by a login of its own, which replaces the last one.
  const b = await publish("revoke-ssi");
  try {
    await waitUntil("the replaced login's token revoked", async () => (await live()) === 1, 10_000);
    await unpublish(a.volumeId, a.target);
    // Still in use by the other volume: its token stays.
    assertEquals(await live(), 1);
  } finally {
    await unpublish(a.volumeId, a.target);
    await unpublish(b.volumeId, b.target);
  }
  // Revoked in the background, so unpublish does not wait for the store.
  await waitUntil("the identity's store token revoked", async () => (await live()) === 0, 10_000);
});

/** Reads `file` in a tight loop until stopped; counts reads that are not one of `valid`. */
function readLoop(file: string, valid: string[]) {
  let stop = false;
  let reads = 0;
  const torn: string[] = [];
  const running = (async () => {
    while (!stop) {
      const v = await Deno.readTextFile(file);
      reads++;
      if (!valid.includes(v)) torn.push(v.length > 64 ? v.slice(0, 64) : v);
      if (reads % 50 === 0) await new Promise((r) => setTimeout(r, 0));
    }
  })();
  return { stop: async () => ((stop = true), await running, { reads, torn }) };
}

/** Runs `change` and waits until `file` holds `want`, its mtime moved and the watch saw
 * IN_MODIFY, each within its own deadline. */
async function rotated(
  file: string,
  watch: Awaited<ReturnType<typeof watchFile>>,
  want: string,
  change: () => Promise<unknown>,
): Promise<void> {
  const mtime = (await Deno.stat(file)).mtime!.getTime();
  const modifies = watch.lines.filter((l) => l.includes("IN_MODIFY")).length;
  await change();
  await waitUntil(
    `rotation of ${file}`,
    async () => (await Deno.readTextFile(file)) === want,
    15_000,
  );
  assert((await Deno.stat(file)).mtime!.getTime() > mtime, "mtime must move");
  await waitUntil(
    "IN_MODIFY",
    () => Promise.resolve(watch.lines.filter((l) => l.includes("IN_MODIFY")).length > modifies),
    5000,
  );
}

suite.test("autorotation: the file changes, its mtime moves, one watch on it sees IN_MODIFY each time, no read is torn", async () => {
  const values = ["first-value", "second-value-is-longer", "third"];
  await env.bao.api("PUT", "demo-kv/data/csi-rotate", { data: { TOKEN: values[0] } });
  const { volumeId, target, pod } = await publish("rotate-ssi");
  const file = `${target}/token`;
  assertEquals(await Deno.readTextFile(file), values[0]);
  const watch = await watchFile(file, 20);
  const reader = readLoop(file, values);
  for (const next of values.slice(1)) {
    await rotated(
      file,
      watch,
      next,
      () => env.bao.api("PUT", "demo-kv/data/csi-rotate", { data: { TOKEN: next } }),
    );
  }
  const { reads, torn } = await reader.stop();
  assertEquals(torn, [], `${torn.length} torn reads out of ${reads}`);
  assert(reads > 100, `only ${reads} reads`);
  // What `kubectl describe pod` shows: a SecretRotated event with the Pod's uid, naming the
  // file and never its value.
  const e = await waitForEvent(
    env.kube,
    NS,
    "a SecretRotated event on the Pod",
    (e) => e.reason === "SecretRotated" && e.regarding.uid === pod.uid,
  );
  assertEquals([e.type, e.action, e.reportingController], [
    "Normal",
    "Rotate",
    "secrets-store.deckhouse.io/csi",
  ]);
  assertEquals(e.regarding, {
    apiVersion: "v1",
    kind: "Pod",
    namespace: NS,
    name: pod.name,
    uid: pod.uid,
  });
  assertStringIncludes(e.note!, `SecretsStoreImport ${NS}/rotate-ssi: files rotated: token`);
  const all = JSON.stringify(await eventsIn(env.kube, NS));
  for (const v of values) assert(!all.includes(v), `an event holds the value ${v}`);
  await unpublish(volumeId, target);
  await watch.stop();
});

// ---- Templates, whole secrets and modes (issue 23) ----

const TMPL_FILES = [
  {
    name: "config.yaml",
    sources: {
      db: { path: "demo-kv/data/csi-tmpl-db" },
      cache: { path: "demo-kv/data/csi-tmpl-cache" },
    },
    template: "db: postgresql://${.db.user}:${.db.pass | urlquery}@db:5432/app\n" +
      "cache: ${.cache.url | quote}\n",
  },
  { name: "all.json", source: { path: "demo-kv/data/csi-tmpl-db" }, format: "json" },
  { name: "ssh-key", source: { path: "demo-kv/data/csi-tmpl-db", key: "key" }, mode: "0400" },
];

const config = (pass: string, url: string) =>
  `db: postgresql://app:${pass}@db:5432/app\ncache: "${url}"\n`;

suite.test("templates: a config file from two paths, a whole secret as JSON and a 0400 file; a change of either source re-renders the config, never torn", async () => {
  await setUp();
  const db = { user: "app", pass: "pw-1", key: "ssh-key-bytes" };
  await env.bao.api("PUT", "demo-kv/data/csi-tmpl-db", { data: db });
  await env.bao.api("PUT", "demo-kv/data/csi-tmpl-cache", { data: { url: "redis://r1:6379" } });
  await createSsi(ssi("tmpl-ssi", TMPL_FILES));
  const { volumeId, target } = await publish("tmpl-ssi");
  const file = `${target}/config.yaml`;
  assertEquals(await Deno.readTextFile(file), config("pw-1", "redis://r1:6379"));
  assertEquals(JSON.parse(await Deno.readTextFile(`${target}/all.json`)), db);
  assertEquals(await Deno.readTextFile(`${target}/ssh-key`), "ssh-key-bytes");
  const mode = async (n: string) => (await Deno.stat(`${target}/${n}`)).mode! & 0o7777;
  assertEquals([await mode("config.yaml"), await mode("all.json"), await mode("ssh-key")], [
    0o444,
    0o444,
    0o400,
  ]);

  const steps: Array<[string, Record<string, unknown>, string]> = [
    [
      "demo-kv/data/csi-tmpl-db",
      { ...db, pass: "pw 2/longer" },
      config("pw+2%2Flonger", "redis://r1:6379"),
    ],
    [
      "demo-kv/data/csi-tmpl-cache",
      { url: "redis://r2:6380" },
      config("pw+2%2Flonger", "redis://r2:6380"),
    ],
  ];
  const watch = await watchFile(file, 20);
  const reader = readLoop(file, [config("pw-1", "redis://r1:6379"), ...steps.map((s) => s[2])]);
  for (const [path, data, want] of steps) {
    await rotated(file, watch, want, () => env.bao.api("PUT", path, { data }));
  }
  const { reads, torn } = await reader.stop();
  assertEquals(torn, [], `${torn.length} torn reads out of ${reads}`);
  assert(reads > 100, `only ${reads} reads`);
  assertEquals(await mode("ssh-key"), 0o400, "the mode survives rotations");
  await watch.stop();
  await unpublish(volumeId, target);
});

suite.test("templates: with an fsGroup a 0400 file is the group's and readable by it (0440)", async () => {
  await setUp();
  await env.bao.api("PUT", "demo-kv/data/csi-tmpl-db", {
    data: { user: "u", pass: "p", key: "k" },
  });
  await env.bao.api("PUT", "demo-kv/data/csi-tmpl-cache", { data: { url: "redis://r" } });
  await createSsi(ssi("tmpl-ssi", TMPL_FILES), [409]); // made by the test before, unless filtered
  const { e, volumeId, target } = await publishNew("tmpl-ssi", {
    ...CAPABILITY,
    mount: { volumeMountGroup: "2345" },
  });
  assertEquals(e?.details, undefined);
  const info = await Deno.stat(`${target}/ssh-key`);
  assertEquals([info.gid, info.mode! & 0o7777], [2345, 0o440]);
  const other = await Deno.stat(`${target}/config.yaml`);
  assertEquals([other.gid, other.mode! & 0o7777], [2345, 0o440]);
  await unpublish(volumeId, target);
});

suite.test("templates: the CRD refuses a bad mode or mix of fields naming it; a bad template fails the publish naming file and position", async () => {
  await setUp();
  const src = { path: "demo-kv/data/csi-tmpl-db" };
  const bad: Array<[unknown, string]> = [
    [{ name: "a", source: { ...src, key: "key" }, mode: "4755" }, "spec.files[0].mode"],
    [{ name: "a", source: { ...src, key: "key" }, mode: "0999" }, "spec.files[0].mode"],
    [{ name: "a", source: src }, "needs format json or yaml"],
    [
      { name: "a", source: { ...src, key: "key" }, format: "json" },
      "format applies to a whole secret",
    ],
    [{ name: "a", source: src, format: "toml" }, "spec.files[0].format"],
    [{ name: "a", template: "x" }, "template and sources go together"],
    [
      { name: "a", source: { ...src, key: "key" }, sources: { db: src }, template: "x" },
      "either source, or template",
    ],
    [
      { name: "a", sources: { db: { path: "demo-kv/../x" } }, template: "x" },
      "spec.files[0].sources.db.path",
    ],
  ];
  for (const [f, part] of bad) {
    const r = await createSsi(ssi(`tmpl-bad-${n++}`, [f]), [422]);
    assertEquals(r.code, 422, part);
    assertStringIncludes(r.message ?? "", part);
  }
  await createSsi(ssi("tmpl-bad-syntax", [{
    name: "app.conf",
    sources: { db: src },
    template: "user=${.db.user}\npass=${.db.pass | readFile}\n",
  }]));
  const e = await assertRejects(() => publish("tmpl-bad-syntax"), Error) as Error & {
    code: number;
    details: string;
  };
  assertEquals(e.code, 3, e.details);
  assertStringIncludes(
    e.details,
    'spec.files.0.template: file "app.conf": at 2:19: unknown function "readFile"',
  );
  await createSsi(ssi("tmpl-bad-field", [{
    name: "app.conf",
    sources: { db: src },
    template: "pass=${.db.password}",
  }]));
  const f = await assertRejects(() => publish("tmpl-bad-field"), Error) as Error & {
    code: number;
    details: string;
  };
  assertEquals(f.code, 9, f.details);
  assertStringIncludes(f.details, 'file "app.conf": at 1:12: no field "password"');
  assert(!f.details.includes("pw-1") && !f.details.includes("pw 2"), f.details);
});

suite.test("a store outage during rotation keeps the last good files; rotation resumes after it", async () => {
  // The volume reaches the store through a TCP forwarder the test can cut, since the shared
  // OpenBao must stay up for the other tests.
  const { driver } = await setUp();
  const target = { hostname: "127.0.0.1", port: Number(new URL(env.bao.address).port) };
  let link = startLatencyProxy(target, 0);
  const port = link.port;
  await createSsi(
    ssi("outage-ssi", [{
      name: "token",
      source: { path: "demo-kv/data/csi-outage", key: "TOKEN" },
    }], {
      address: `https://127.0.0.1:${port}`,
    }),
  );
  const { volumeId, target: dir, pod } = await publish("outage-ssi");
  assertEquals(await Deno.readTextFile(`${dir}/token`), "before-outage");
  await link.close();
  await env.bao.api("PUT", "demo-kv/data/csi-outage", { data: { TOKEN: "after-outage" } });
  const skipped = () =>
    Deno.readTextFile(driver.logFile).then((l) =>
      (l.match(/rotation skipped, last files kept/g) ?? []).length
    );
  const before = await skipped();
  await waitUntil("a failed rotation", async () => (await skipped()) >= before + 2, 15_000);
  assertEquals(await Deno.readTextFile(`${dir}/token`), "before-outage");
  // Every failed sweep is the same event, counted: a Warning naming the file and the kind.
  const failed = await waitForEvent(
    env.kube,
    NS,
    "a SecretRotationFailed event counted twice",
    (e) =>
      e.reason === "SecretRotationFailed" && e.regarding.uid === pod.uid &&
      (e.series?.count ?? 1) >= 2,
  );
  assertEquals(failed.type, "Warning");
  assertStringIncludes(failed.note!, `SecretsStoreImport ${NS}/outage-ssi, file "token": `);
  assert(/file "token": (unreachable|timeout): /.test(failed.note!), failed.note);
  assert(!JSON.stringify(failed).includes("before-outage"), "the event holds the value");
  link = startLatencyProxy(target, 0, port);
  await waitUntil(
    "rotation after the outage",
    async () => (await Deno.readTextFile(`${dir}/token`)) === "after-outage",
    15_000,
  );
  await link.close();
  await unpublish(volumeId, dir);
});

suite.test("after a driver restart the mounts stay, and rotation resumes once the kubelet republishes, for a volume of the previous version too", async () => {
  const c = await setUp();
  await env.bao.api("PUT", "demo-kv/data/csi-rotate", { data: { TOKEN: "before-restart" } });
  const { volumeId, target, pod } = await publish("rotate-ssi");
  c.client.close();
  await c.driver.stop();
  assertEquals(await Deno.readTextFile(`${target}/token`), "before-restart"); // no driver, still readable
  // A volume as the previous version left it: its folder named by replacing characters.
  const old = await newPod();
  const oldId = `csi:${old.pod.uid}`;
  const oldDir = `${DIR}/state/mounts/csi_${old.pod.uid}`;
  const oldTarget = targetOf(old.pod);
  await Deno.mkdir(oldDir, { recursive: true });
  mountTmpfs(oldDir, { sizeBytes: 1 << 20 });
  await Deno.writeTextFile(`${oldDir}/token`, "before-restart", { mode: 0o444 });
  await Deno.mkdir(oldTarget, { recursive: true });
  bindReadOnly(oldDir, oldTarget);
  await saveState(`${DIR}/state/volumes`, {
    volumeId: oldId,
    targetPath: oldTarget,
    sourceDir: oldDir,
    pod: old.pod,
    ssiName: "rotate-ssi",
    spec: SsiSpec.parse({
      type: "CSI",
      role: "csi-test-role",
      files: [{ name: "token", source: { path: "demo-kv/data/csi-rotate", key: "TOKEN" } }],
    }),
  });
  const driver = await startCsi(DRIVER_OPTS());
  const client = csiClient(driver.socket);
  Object.assign(c, { driver, client });
  assert(isMountPoint(target));
  for (
    const [id, path, p, jwt] of [[volumeId, target, pod, undefined], [
      oldId,
      oldTarget,
      old.pod,
      old.jwt,
    ]] as const
  ) {
    await client.call("Node", "NodePublishVolume", {
      volumeId: id,
      targetPath: path,
      volumeCapability: CAPABILITY,
      readonly: true,
      volumeContext: kubeletContext("rotate-ssi", p, { "": jwt ?? await podToken(env.kube, p) }),
    });
  }
  await env.bao.api("PUT", "demo-kv/data/csi-rotate", { data: { TOKEN: "after-restart" } });
  for (const t of [target, oldTarget]) {
    await waitUntil(
      `rotation after restart at ${t}`,
      async () => (await Deno.readTextFile(`${t}/token`)) === "after-restart",
      15_000,
    );
  }
  assertEquals(await Deno.readTextFile(`${oldDir}/token`), "after-restart"); // still its folder
  await unpublish(volumeId, target);
  await unpublish(oldId, oldTarget);
  assert(!isMountPoint(oldTarget) && !isMountPoint(oldDir));
  assertEquals(await Deno.stat(oldDir).then(() => "exists", () => "gone"), "gone");
});

suite.test("a kubelet folder whose socket paths the kubelet cannot dial (over 107 bytes) is warned about at start", async () => {
  const dir = `${env.dir}/csi-long`;
  const kubelet = `${env.dir}/${"k".repeat(70)}`; // its plugins_registry socket passes 107 bytes
  await Deno.mkdir(kubelet, { recursive: true });
  const driver = await startCsi({
    ...DRIVER_OPTS(),
    dir,
    kubeletDir: kubelet,
    extraArgs: [`--registration-dir=${env.dir}/reg-long`],
  });
  try {
    // Logged once the CSI socket serves, about when startCsi() returns: wait for the line
    // that follows it.
    await waitUntil(
      "the driver's serving line",
      async () => (await Deno.readTextFile(driver.logFile)).includes("csi driver serving"),
      10_000,
    );
    const log = await Deno.readTextFile(driver.logFile);
    assertStringIncludes(log, "the kubelet cannot dial a unix socket path over 107 bytes");
    assertStringIncludes(
      log,
      `${kubelet}/plugins_registry/secrets-store.csi.deckhouse.io-reg.sock`,
    );
  } finally {
    await driver.stop();
  }
});

suite.test("the driver registers itself with the kubelet and answers its liveness probe", async () => {
  const dir = `${env.dir}/csi-registration`;
  const registry = `${env.dir}/reg`; // a socket path has at most 107 bytes
  const port = freePort();
  const driver = await startCsi({
    ...DRIVER_OPTS(),
    dir,
    extraArgs: [
      `--registration-dir=${registry}`,
      "--kubelet-endpoint=/var/lib/kubelet/plugins/secrets-store.csi.deckhouse.io/csi.sock",
      `--health-listen=127.0.0.1:${port}`,
    ],
  });
  try {
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    assertEquals([health.status, await health.text()], [200, "ok\n"]);
    // What the kubelet's plugin watcher does with a socket that appears in plugins_registry.
    const socket = `${registry}/secrets-store.csi.deckhouse.io-reg.sock`;
    const Registration = registrationService();
    const client = new Registration(`unix://${socket}`, grpc.credentials.createInsecure());
    const call = <T>(method: string, req: unknown) =>
      new Promise<T>((resolve, reject) =>
        (client as unknown as Record<string, (r: unknown, cb: (e: unknown, v: T) => void) => void>)[
          method
        ]!(req, (e, v) => e ? reject(e) : resolve(v))
      );
    assertEquals(await call("GetInfo", {}), {
      type: "CSIPlugin",
      name: "secrets-store.csi.deckhouse.io",
      endpoint: "/var/lib/kubelet/plugins/secrets-store.csi.deckhouse.io/csi.sock",
      supportedVersions: ["1.0.0"],
    });
    await call("NotifyRegistrationStatus", { pluginRegistered: false, error: "version mismatch" });
    client.close();
    await waitUntil(
      "the refusal in the log",
      async () => (await Deno.readTextFile(driver.logFile)).includes("version mismatch"),
      5_000,
    );
    await driver.stop();
    // Gone with the driver, so the kubelet unregisters it.
    assertEquals(await Deno.stat(socket).then(() => true, () => false), false);
  } finally {
    await driver.stop();
  }
});

// ---- Attacks: what a hostile socket client (or a confused kubelet) sends ----

const NS_B = "csi-tenant-b";
const B_AUTH = "csi-b-kube";
const B_SECRET = "demo-kv/data/csi-b-secret";
/** What the attacks aim at: B's other secret, readable by B's role, never read by B's volume. */
const B_TARGET = "demo-kv/data/csi-b-target";
const A_ROTATE = "demo-kv/data/csi-a-rotate";

type GrpcFailure = Error & { code: number; details: string };

/** NodePublishVolume with any arguments; resolves to the gRPC failure, or undefined. */
async function publishAs(
  req: { volumeId: string; targetPath: string; volumeContext: Record<string, string> },
  volumeCapability: unknown = CAPABILITY,
): Promise<GrpcFailure | undefined> {
  const { client } = await setUp();
  return await client.call("Node", "NodePublishVolume", {
    ...req,
    volumeCapability,
    readonly: true,
  }).then(() => undefined, (e) => e as GrpcFailure);
}

/** Asserts a refusal: its gRPC code and the words naming the field; never the token. */
function assertRefused(
  e: GrpcFailure | undefined,
  code: number,
  parts: string[],
  tokens: string[] = [],
) {
  assert(e, `accepted, expected code ${code} with ${parts.join(", ")}`);
  assertEquals(e.code, code, e.details);
  for (const p of parts) assertStringIncludes(e.details, p);
  for (const t of tokens) {
    for (const piece of t.split(".")) {
      if (piece.length > 8) assert(!e.details.includes(piece), "the token is in the error");
    }
  }
}

/** Every request the store saw since line `from` of its audit log: operation, path, role. */
async function storeRequests(from = 0) {
  const lines = (await Deno.readTextFile(env.bao.auditLog)).trim().split("\n");
  return {
    end: lines.length,
    requests: lines.slice(from).map((l) => JSON.parse(l))
      .filter((e) => e.type === "request")
      .map((e) => ({
        op: `${e.request.operation} ${e.request.path}` as string,
        role: e.request.data?.role as string | undefined,
      })),
  };
}

/** The mounts under the test's kubelet folder, from the kernel's own table. */
async function mountsUnder(dir: string): Promise<string[]> {
  return (await Deno.readTextFile("/proc/self/mountinfo")).split("\n")
    .map((l) => l.split(" ")[4] ?? "").filter((m) => m.startsWith(dir)).sort();
}

/** Every name in `dir`, recursively. */
function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of Deno.readDirSync(d)) {
      out.push(`${d}/${e.name}`);
      if (e.isDirectory) walk(`${d}/${e.name}`);
    }
  };
  walk(dir);
  return out.sort();
}

/** The driver's requests other than GETs of the SecretsStoreImports `mounted` ("ns/name"),
 * which every rotation reads again for their volumes. */
function notSweeps(requests: Awaited<ReturnType<typeof requestsSince>>, mounted: string[]) {
  const namespaces = new Set(mounted.map((m) => m.split("/")[0]));
  return describeRequests(
    requests.filter((r) =>
      !(r.verb === "get" && r.resource === "secretsstoreimports" &&
        mounted.includes(`${r.namespace}/${r.name}`)) &&
      // The sweeps' events about the mounted volumes' Pods, in their own namespaces.
      !(r.resource === "events" && ["create", "patch"].includes(r.verb) &&
        namespaces.has(r.namespace ?? ""))
    ),
  );
}

/** A JWT with `exp` moved to the past: what an expired token looks like to the driver. */
function expired(jwt: string): string {
  const [h, p, sig] = jwt.split(".");
  const claims = JSON.parse(atob(p!.replace(/-/g, "+").replace(/_/g, "/")));
  claims.exp = Math.floor(Date.now() / 1000) - 60;
  const body = btoa(JSON.stringify(claims)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
  return `${h}.${body}.${sig}`;
}

let tenants: Promise<{ podB: TestPod; jwtB: string }> | undefined;

/** Namespace B with its own ServiceAccount, auth mount, role, secret and SecretsStoreImport;
 * and in A (the guide's namespace) a role whose logins last 5 s, so every sweep logs in again
 * with whatever token the driver holds for A. */
function setUpTenants() {
  return tenants ??= (async () => {
    await setUp();
    await env.kube.api("POST", "/api/v1/namespaces", { metadata: { name: NS_B } });
    await env.kube.api("POST", `/api/v1/namespaces/${NS_B}/serviceaccounts`, {
      metadata: { name: "b-sa" },
    });
    await enableKubeAuth(env.bao, env.kube, B_AUTH);
    await env.bao.api("PUT", "sys/policies/acl/csi-b", {
      policy:
        `path "${B_SECRET}" { capabilities = ["read"] }\npath "${B_TARGET}" { capabilities = ["read"] }\n`,
    });
    await env.bao.api("PUT", `auth/${B_AUTH}/role/b-role`, {
      bound_service_account_names: "b-sa",
      bound_service_account_namespaces: NS_B,
      policies: "csi-b",
      ttl: "10m",
    });
    await env.bao.api("PUT", B_SECRET, { data: { K: "b-tenant-value" } });
    await env.bao.api("PUT", B_TARGET, { data: { K: "b-target-value" } });
    for (const [name, path] of [["b-ssi", B_SECRET], ["b-target-ssi", B_TARGET]]) {
      await env.kube.api(
        "POST",
        `/apis/deckhouse.io/v1alpha1/namespaces/${NS_B}/secretsstoreimports`,
        {
          ...ssi(name!, [{ name: "k", source: { path, key: "K" } }], {
            role: "b-role",
            authPath: B_AUTH,
          }),
          metadata: { name, namespace: NS_B },
        },
      );
    }
    await env.bao.api("PUT", "sys/policies/acl/csi-a", {
      policy: `path "${A_ROTATE}" { capabilities = ["read"] }\n`,
    });
    await env.bao.api("PUT", "auth/kubernetes_local/role/csi-a-role", {
      bound_service_account_names: GUIDE.serviceAccount,
      bound_service_account_namespaces: NS,
      policies: "csi-a",
      ttl: "5s",
    });
    await env.bao.api("PUT", A_ROTATE, { data: { K: "a-first" } });
    await createSsi(
      ssi("a-rotate-ssi", [{ name: "k", source: { path: A_ROTATE, key: "K" } }], {
        role: "csi-a-role",
      }),
    );
    await createSsi(
      ssi("a-aud-ssi", [{ name: "k", source: { path: A_ROTATE, key: "K" } }], {
        role: "csi-a-role",
        audience: "csi-aud",
      }),
    );
    // B's own volume, published as the kubelet would: B's login is now cached in the driver.
    const podB = await createPod(env.kube, NS_B, "b-app", "b-sa");
    const jwtB = await podToken(env.kube, podB);
    const e = await publishAs({
      volumeId: `csi-${podB.uid}`,
      targetPath: targetOf(podB),
      volumeContext: kubeletContext("b-ssi", podB, { "": jwtB }),
    });
    assertEquals(e?.details, undefined);
    assertEquals(await Deno.readTextFile(`${targetOf(podB)}/k`), "b-tenant-value");
    return { podB, jwtB };
  })();
}

suite.test("attack: a volume context naming namespace B with a token that is not B's is refused; B is never asked for and A keeps rotating", async () => {
  const { podB, jwtB } = await setUpTenants();
  const { pod: podA, jwt: jwtA } = await newPod();
  const targetA = targetOf(podA);
  const volA = `csi-${podA.uid}`;
  assertEquals(
    await publishAs({
      volumeId: volA,
      targetPath: targetA,
      volumeContext: kubeletContext("a-rotate-ssi", podA, { "": jwtA }),
    }),
    undefined,
  );
  assertEquals(await Deno.readTextFile(`${targetA}/k`), "a-first");
  const { pod: podA2, jwt: jwtA2 } = await newPod();
  const { pod: podAud } = await newPod();
  const otherAudience = await podToken(env.kube, podAud, ["other-aud"]);
  const { end: mark } = await storeRequests();
  const kubeMark = await auditMark(env.kube.auditLog);
  const before = await mountsUnder(DIR);

  // Pretending to be B's Pod, in B's folder, with A's token, no JWT, an expired B token.
  const asB = (token: string) =>
    publishAs({
      volumeId: `csi-attack-${++n}`,
      targetPath: targetOf(podB, `attack-${n}`),
      volumeContext: kubeletContext("b-target-ssi", podB, { "": token }),
    });
  assertRefused(await asB(jwtA), 7, ["csi.storage.k8s.io/pod.namespace", NS_B, NS], [jwtA]);
  assertRefused(await asB("not-a-jwt"), 3, ["csi.storage.k8s.io/serviceAccount.tokens", "JWT"]);
  assertRefused(await asB(expired(jwtB)), 7, ["expired"], [jwtB]);
  // A token of the right namespace and ServiceAccount, bound to another Pod.
  const a2AsA = await publishAs({
    volumeId: `csi-attack-${++n}`,
    targetPath: targetOf(podA, "attack"),
    volumeContext: kubeletContext("a-rotate-ssi", podA, { "": jwtA2 }),
  });
  assertRefused(a2AsA, 7, ["csi.storage.k8s.io/pod."], [jwtA2]);
  // A new volume of A's identity with a token that is not one must not replace A's token.
  assertRefused(
    await publishAs({
      volumeId: `csi-attack-${++n}`,
      targetPath: targetOf(podA2),
      volumeContext: kubeletContext("a-rotate-ssi", podA2, { "": "not-a-jwt" }),
    }),
    3,
    ["JWT"],
  );
  // Nor a republish of A's volume with B's token, A2's token or an expired one of its own.
  for (
    const [token, part] of [[jwtB, "pod.namespace"], [jwtA2, "pod."], [expired(jwtA), "expired"]]
  ) {
    assertRefused(
      await publishAs({
        volumeId: volA,
        targetPath: targetA,
        volumeContext: kubeletContext("a-rotate-ssi", podA, { "": token! }),
      }),
      7,
      [part!],
      [token!],
    );
  }
  // A token for another audience than the SecretsStoreImport asks for.
  assertRefused(
    await publishAs({
      volumeId: `csi-attack-${++n}`,
      targetPath: targetOf(podAud),
      volumeContext: kubeletContext("a-aud-ssi", podAud, { "csi-aud": otherAudience }),
    }),
    7,
    ['audience "csi-aud"'],
    [otherAudience],
  );

  assertEquals(await mountsUnder(DIR), before, "an attack mounted something");
  // A keeps rotating: its logins (5 s) are renewed with A's own token.
  await env.bao.api("PUT", A_ROTATE, { data: { K: "a-second" } });
  await waitUntil(
    "A's rotation",
    async () => (await Deno.readTextFile(`${targetA}/k`)) === "a-second",
    20_000,
  );
  const { requests } = await storeRequests(mark);
  // The audit log shows request fields HMAC'd; the store hashes the role name the same way.
  const hashed = await env.bao.api("POST", "sys/audit-hash/test", { input: "b-role" });
  const bRole = [
    "b-role",
    (hashed.hash ?? (hashed.data as { hash?: string } | undefined)?.hash) as string,
  ];
  // B's own volume rotates meanwhile, reading B_SECRET with its cached login; nothing else.
  const toB = requests.filter((r) =>
    r.op.includes(B_TARGET) || r.op.includes(`auth/${B_AUTH}/`) || bRole.includes(r.role!)
  );
  assertEquals(toB, [], "B's path or role was asked for");
  assert(requests.some((r) => r.op === `read ${A_ROTATE}`));
  assertEquals(await Deno.readTextFile(`${targetOf(podB)}/k`), "b-tenant-value");
  // Every refusal came before the API: the driver read no SecretsStoreImport meanwhile but
  // those of the mounted volumes, which each rotation reads again.
  assertEquals(
    notSweeps(await requestsSince(kubeMark, CSI_USER), [`${NS_B}/b-ssi`, `${NS}/a-rotate-ssi`]),
    [],
  );
  await unpublish(volA, targetA);
});

suite.test("attack: SecretsStoreImport names that leave their segment are INVALID_ARGUMENT naming volumeAttributes.secretsStoreImport", async () => {
  await setUpTenants();
  const { end: mark } = await storeRequests();
  const kubeMark = await auditMark(env.kube.auditLog);
  for (
    const name of [`../../${NS_B}/secretsstoreimports/b-ssi`, "a-ssi?x=1", "a-ssi#frag", "a-ssi/"]
  ) {
    const { pod, jwt } = await newPod();
    const e = await publishAs({
      volumeId: `csi-${pod.uid}`,
      targetPath: targetOf(pod),
      volumeContext: kubeletContext(name, pod, { "": jwt }),
    });
    assertRefused(e, 3, ["volumeAttributes.secretsStoreImport"], [jwt]);
    assert(!isMountPoint(targetOf(pod)), name);
  }
  assertEquals((await storeRequests(mark)).requests.filter(notRevoke), []);
  // The API server saw no request from the driver but the rotation's reads of mounted
  // volumes' SecretsStoreImports: nothing reached B's namespace by the volume context.
  assertEquals(notSweeps(await requestsSince(kubeMark, CSI_USER), [`${NS_B}/b-ssi`]), []);
  // Positive control: a valid name is read from the Pod's own namespace, and only there.
  const { pod, jwt } = await newPod();
  const good = await publishAs({
    volumeId: `csi-${pod.uid}`,
    targetPath: targetOf(pod),
    volumeContext: kubeletContext("a-rotate-ssi", pod, { "": jwt }),
  });
  assertEquals(good, undefined);
  const seen = await requestsSince(kubeMark, CSI_USER);
  assert(
    describeRequests(seen).includes(
      `get ${NS}/secretsstoreimports/a-rotate-ssi (/apis/deckhouse.io/v1alpha1/namespaces/${NS}/secretsstoreimports/a-rotate-ssi)`,
    ),
  );
  assertEquals(notSweeps(seen, [`${NS_B}/b-ssi`, `${NS}/a-rotate-ssi`]), []);
  await unpublish(`csi-${pod.uid}`, targetOf(pod));
});

suite.test("attack: store paths that leave their segment are refused at apply naming the field, and an http address at publish; the store is never asked", async () => {
  await setUpTenants();
  const { end: mark } = await storeRequests();
  const hostile = [
    `${A_ROTATE}?version=1`,
    `${A_ROTATE}#1`,
    "demo-kv/data/%2e%2e/myapp-secret",
    "demo-kv/data/../myapp-secret",
    `/v1/${A_ROTATE}`,
    "demo-kv/data/a b",
  ];
  for (const path of hostile) {
    const r = await createSsi(
      ssi(`bad-path-${++n}`, [{ name: "k", source: { path, key: "K" } }], { role: "csi-a-role" }),
      [422],
    );
    assertEquals(r.code, 422, path);
    assertStringIncludes(r.message ?? "", "spec.files[0].source.path", path);
  }
  const badAuth = await createSsi(
    ssi(`bad-auth-${++n}`, [{ name: "k", source: { path: A_ROTATE, key: "K" } }], {
      role: "csi-a-role",
      authPath: "kubernetes_local/../token",
    }),
    [422],
  );
  assertStringIncludes(badAuth.message ?? "", "spec.authPath");
  // Plain http is the installation's call (connection.allowInsecureHttp, off here).
  await createSsi(
    ssi("http-ssi", [{ name: "k", source: { path: A_ROTATE, key: "K" } }], {
      role: "csi-a-role",
      address: env.bao.address.replace("https://", "http://"),
    }),
  );
  const { pod, jwt } = await newPod();
  assertRefused(
    await publishAs({
      volumeId: `csi-${pod.uid}`,
      targetPath: targetOf(pod),
      volumeContext: kubeletContext("http-ssi", pod, { "": jwt }),
    }),
    3,
    ["spec.address", "https"],
    [jwt],
  );
  assert(!isMountPoint(targetOf(pod)));
  assertEquals((await storeRequests(mark)).requests.filter(notRevoke), []);
});

/** Not a revoke: an earlier test's unpublished volume has its login revoked in the
 * background, and that request may land in a later test's window; it names no path, mount
 * or role. */
function notRevoke(r: { op: string }): boolean {
  return r.op !== "update auth/token/revoke-self";
}

suite.test("attack: volume ids x:1 and x_1 get separate folders; .., empty and 129 bytes are refused and the state folder is untouched", async () => {
  await setUp();
  const one = await newPod();
  const two = await newPod();
  const ids = [`x:${n}`, `x_${n}`];
  assertEquals(
    await publishAs({
      volumeId: ids[0]!,
      targetPath: targetOf(one.pod),
      volumeContext: kubeletContext("myapp-ssi", one.pod, { "": one.jwt }),
    }),
    undefined,
  );
  assertEquals(
    await publishAs({
      volumeId: ids[1]!,
      targetPath: targetOf(two.pod),
      volumeContext: kubeletContext("keytab-ssi", two.pod, { "": two.jwt }),
    }),
    undefined,
  );
  assertEquals([...Deno.readDirSync(targetOf(one.pod))].map((e) => e.name), ["db-password"]);
  assertEquals([...Deno.readDirSync(targetOf(two.pod))].map((e) => e.name), ["keytab"]);
  await unpublish(ids[0]!, targetOf(one.pod));
  assertEquals(await Deno.readFile(`${targetOf(two.pod)}/keytab`), KEYTAB);
  await unpublish(ids[1]!, targetOf(two.pod));

  const state = tree(`${DIR}/state`);
  const mounts = await mountsUnder(DIR);
  for (
    const [id, part] of [["..", "volume_id"], ["", "volume_id"], ["v".repeat(129), "128 bytes"]]
  ) {
    const { pod, jwt } = await newPod();
    const e = await publishAs({
      volumeId: id!,
      targetPath: targetOf(pod),
      volumeContext: kubeletContext("myapp-ssi", pod, { "": jwt }),
    });
    assertRefused(e, 3, [part!]);
  }
  assertEquals(tree(`${DIR}/state`), state);
  assertEquals(await mountsUnder(DIR), mounts);
});

suite.test("attack: target paths with .., outside the kubelet folder, in another Pod's folder or through a symlink are refused and nothing is mounted", async () => {
  await setUp();
  const outside = `${env.dir}/csi-outside`;
  await Deno.mkdir(outside, { recursive: true });
  const { pod: other } = await newPod();
  const mounts = await mountsUnder(env.dir);
  const cases: Array<[(p: TestPod) => string | Promise<string>, string]> = [
    [(p) => `${DIR}/pods/${p.uid}/volumes/../../../state/mounts`, "target_path"],
    [(p) => `${DIR}/pods/${p.uid}/volumes/kubernetes.io~csi/./secrets/mount`, "target_path"],
    [(p) => `${DIR}/pods/${p.uid}//volumes/kubernetes.io~csi/secrets/mount`, "target_path"],
    [() => `${outside}/mount`, DIR],
    [() => "relative/mount", "absolute"],
    [() => targetOf(other), "Pod"],
    [async (p) => {
      const dir = `${DIR}/pods/${p.uid}/volumes/kubernetes.io~csi`;
      await Deno.mkdir(dir, { recursive: true });
      await Deno.symlink(outside, `${dir}/secrets`);
      return `${dir}/secrets/mount`;
    }, "symlink"],
  ];
  for (const [target, part] of cases) {
    const { pod, jwt } = await newPod();
    const path = await target(pod);
    const e = await publishAs({
      volumeId: `csi-${pod.uid}`,
      targetPath: path,
      volumeContext: kubeletContext("myapp-ssi", pod, { "": jwt }),
    });
    assertRefused(e, 3, [part], [jwt]);
  }
  assertEquals(await mountsUnder(env.dir), mounts);
  assertEquals([...Deno.readDirSync(outside)], []);
});

suite.test("attack: unpublish acts only on the volume recorded for that id and target; a second target is refused", async () => {
  const { volumeId, target, pod } = await publish("myapp-ssi");
  // Unknown id, live target; known id, another target: both OK, both touch nothing.
  await unpublish("csi-no-such-volume", target);
  await unpublish(volumeId, `${DIR}/pods/${pod.uid}/volumes/kubernetes.io~csi/other/mount`);
  assert(isMountPoint(target));
  assertEquals(await Deno.readTextFile(`${target}/db-password`), "secret-password");
  const second = `${DIR}/pods/${pod.uid}/volumes/kubernetes.io~csi/second/mount`;
  const e = await publishAs({
    volumeId,
    targetPath: second,
    volumeContext: kubeletContext("myapp-ssi", pod, { "": await podToken(env.kube, pod) }),
  });
  assertRefused(e, 9, [target, second]);
  assert(!isMountPoint(second));
  // Another id at this volume's target: refused, and the live volume stays as it was.
  const over = await publishAs({
    volumeId: `csi-over-${pod.uid}`,
    targetPath: target,
    volumeContext: kubeletContext("keytab-ssi", pod, { "": await podToken(env.kube, pod) }),
  });
  assertRefused(over, 9, ["already mounted", target]);
  assertEquals([...Deno.readDirSync(target)].map((f) => f.name), ["db-password"]);
  // The same id and target again is the kubelet republishing: fine.
  assertEquals(
    await publishAs({
      volumeId,
      targetPath: target,
      volumeContext: kubeletContext("myapp-ssi", pod, { "": await podToken(env.kube, pod) }),
    }),
    undefined,
  );
  await unpublish(volumeId, target);
  assert(!isMountPoint(target));
});

// ---- Lifecycle: large secrets, long names, bad groups (issue 17) ----

/** Publishes `ssiName` for a new Pod with any capability; the failure, or undefined. */
async function publishNew(ssiName: string, capability: unknown = CAPABILITY) {
  const { pod, jwt } = await newPod();
  const volumeId = `csi-${pod.uid}`;
  const target = targetOf(pod);
  const e = await publishAs(
    { volumeId, targetPath: target, volumeContext: kubeletContext(ssiName, pod, { "": jwt }) },
    capability,
  );
  return { e, volumeId, target, pod };
}

/** Names in the volume's own tmpfs (temporary files included), read behind the bind mount. */
function volumeNames(target: string): string[] {
  return [...Deno.readDirSync(target)].map((e) => e.name).sort();
}

suite.test("attack: a volume_mount_group that is not a 32-bit gid is INVALID_ARGUMENT naming the field; 4000000000 is accepted", async () => {
  await setUp();
  const mounts = await mountsUnder(DIR);
  for (const bad of ["-1", "99999999999", "4294967295", "1.5", " ", "abc", "0x10", "1e3", "+5"]) {
    const { e } = await publishNew("myapp-ssi", {
      ...CAPABILITY,
      mount: { volumeMountGroup: bad },
    });
    assertRefused(e, 3, ["volume_mount_group", JSON.stringify(bad)]);
  }
  assertEquals(await mountsUnder(DIR), mounts, "a refused group mounted something");
  const { e, volumeId, target } = await publishNew("myapp-ssi", {
    ...CAPABILITY,
    mount: { volumeMountGroup: "4000000000" },
  });
  assertEquals(e?.details, undefined);
  const info = await Deno.stat(`${target}/db-password`);
  assertEquals([info.gid, info.mode! & 0o777], [4000000000, 0o440]);
  await unpublish(volumeId, target);
});

suite.test("file names are limited in bytes: 128 × é is refused at apply; 250- and 255-byte names publish and rotate", async () => {
  await setUp();
  const wide = await createSsi(
    ssi(`wide-name-${++n}`, [{ name: "é".repeat(128), source: { path: "p", key: "k" } }]),
    [422],
  );
  assertEquals(wide.code, 422, "256 bytes in 128 characters");
  assertStringIncludes(wide.message ?? "", "spec.files[0].name");
  const names = ["a".repeat(255), "é".repeat(125)]; // 255 and 250 bytes
  await env.bao.api("PUT", "demo-kv/data/csi-long", { data: { A: "a-1", B: "b-1" } });
  await createSsi(
    ssi("long-names-ssi", [
      { name: names[0], source: { path: "demo-kv/data/csi-long", key: "A" } },
      { name: names[1], source: { path: "demo-kv/data/csi-long", key: "B" } },
    ]),
  );
  const { e, volumeId, target } = await publishNew("long-names-ssi");
  assertEquals(e?.details, undefined);
  assertEquals(await Deno.readTextFile(`${target}/${names[0]}`), "a-1");
  assertEquals(await Deno.readTextFile(`${target}/${names[1]}`), "b-1");
  await env.bao.api("PUT", "demo-kv/data/csi-long", { data: { A: "a-2", B: "b-2" } });
  await waitUntil(
    "both long names rotated",
    async () =>
      (await Deno.readTextFile(`${target}/${names[0]}`)) === "a-2" &&
      (await Deno.readTextFile(`${target}/${names[1]}`)) === "b-2",
    15_000,
  );
  assertEquals(volumeNames(target), [...names].sort(), "a temporary file was left");
  await unpublish(volumeId, target);
});

suite.test("a secret larger than the volume is RESOURCE_EXHAUSTED naming the file, its size and --volume-size", async () => {
  await setUp();
  const big = 5 * 1024 * 1024;
  await env.bao.api("PUT", "demo-kv/data/csi-big", { data: { V: "x".repeat(big) } });
  await createSsi(
    ssi("big-ssi", [{ name: "big.pem", source: { path: "demo-kv/data/csi-big", key: "V" } }]),
  );
  const mounts = await mountsUnder(DIR);
  const { e, target } = await publishNew("big-ssi");
  assertRefused(e, 8, ['file "big.pem"', `${big} bytes`, "--volume-size", "csi.volumeSize"]);
  assert(!isMountPoint(target));
  assertEquals(await mountsUnder(DIR), mounts);
});

suite.test("a 1 MiB secret in the default 4 MiB volume rotates 20 times in a row, each seen by a reader; one too large is skipped with a warning and no stray file", async () => {
  await setUp();
  // A driver of its own that sweeps every 20 ms, so 20 rotations take seconds, not 20 sweeps
  // of the shared driver's 500 ms.
  const driver = await startCsi({
    ...DRIVER_OPTS(),
    dir: `${env.dir}/csi-large`,
    kubeletDir: DIR,
    rotationInterval: "20ms",
  });
  const client = csiClient(driver.socket);
  const MiB = 1 << 20;
  const value = (i: number, length = MiB) => `rotation-${i}:`.padEnd(length, "x");
  await env.bao.api("PUT", "demo-kv/data/csi-large", { data: { V: value(0) } });
  await createSsi(
    ssi("large-ssi", [{ name: "large", source: { path: "demo-kv/data/csi-large", key: "V" } }]),
  );
  const { pod, jwt } = await newPod();
  const volumeId = `csi-${pod.uid}`;
  const target = targetOf(pod);
  await client.call("Node", "NodePublishVolume", {
    volumeId,
    targetPath: target,
    volumeCapability: CAPABILITY,
    readonly: true,
    volumeContext: kubeletContext("large-ssi", pod, { "": jwt }),
  });
  const file = `${target}/large`;
  const deadline = Date.now() + 30_000; // this test's own bound for the 20 rotations
  for (let i = 1; i <= 20; i++) {
    await env.bao.api("PUT", "demo-kv/data/csi-large", { data: { V: value(i) } });
    await waitUntil(
      `rotation ${i} of the 1 MiB secret`,
      async () => (await Deno.readTextFile(file)).startsWith(`rotation-${i}:`),
      Math.max(1000, deadline - Date.now()),
      driver.logFile,
    );
    assertEquals(volumeNames(target), ["large"]);
  }
  const log = () => Deno.readTextFile(driver.logFile);
  const warned = (await log()).split("\n").filter((l) => l.includes("csi.volumeSize")).length;
  const tooLarge = 5 * MiB;
  await env.bao.api("PUT", "demo-kv/data/csi-large", { data: { V: value(21, tooLarge) } });
  await waitUntil("the warning", async () => {
    const lines = (await log()).split("\n").filter((l) => l.includes("csi.volumeSize"));
    return lines.length > warned;
  }, 15_000);
  const line = (await log()).split("\n").filter((l) => l.includes("csi.volumeSize")).at(-1)!;
  for (
    const part of ['file \\"large\\"', `${tooLarge} bytes`, "--volume-size", "last files kept"]
  ) {
    assertStringIncludes(line, part);
  }
  assert((await Deno.readTextFile(file)).startsWith("rotation-20:"));
  assertEquals(volumeNames(target), ["large"], "a stray temporary file");
  await client.call("Node", "NodeUnpublishVolume", { volumeId, targetPath: target });
  client.close();
  await driver.stop();
  assert(!isMountPoint(target));
});

/** SHA-256 of a volume id in hex: the name of its folder under state/mounts. */
async function folderOf(volumeId: string): Promise<string> {
  const d = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(volumeId));
  const hex = [...new Uint8Array(d)].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `${DIR}/state/mounts/${hex}`;
}

/** Files written so far in a volume's tmpfs (temporary ones not counted); 0 before it is. */
function written(folder: string): number {
  try {
    return [...Deno.readDirSync(folder)].filter((e) => !e.name.startsWith(".tmp-")).length;
  } catch {
    return 0;
  }
}

suite.test("crash safety: SIGKILL at about 30/50/70/95 % of a 500-file publish, restart, unpublish: no mount and no state left; a republish works", async () => {
  await setUp();
  const FILES = 500;
  // Five secrets of 100 keys: OpenBao refuses a JSON body with 1000 strings.
  const at = (i: number) => `demo-kv/data/csi-many-${i % 5}`;
  for (let p = 0; p < 5; p++) {
    const keys = Array.from({ length: FILES / 5 }, (_, j) => j * 5 + p);
    await env.bao.api("PUT", at(p), {
      data: Object.fromEntries(keys.map((i) => [`K${i}`, `v${i}`])),
    });
  }
  await createSsi(
    ssi(
      "many-ssi",
      Array.from({ length: FILES }, (_, i) => ({
        name: `f${i}`,
        source: { path: at(i), key: `K${i}` },
      })),
    ),
  );
  const deadline = Date.now() + 90_000; // the test's own bound, over all four kills
  for (const percent of [30, 50, 70, 95]) {
    const { driver, client } = await setUp();
    const states = written(`${DIR}/state/volumes`);
    const mounts = await mountsUnder(DIR);
    const { pod, jwt } = await newPod();
    const volumeId = `csi-${pod.uid}`;
    const target = targetOf(pod);
    const folder = await folderOf(volumeId);
    const pid = driverPid(driver.socket);
    // Each file is renamed into place once written: with every rename slowed to 2 ms, the
    // file count moves slowly enough for the kill to land on its mark (give or take a file).
    const tracer = await slowRenames(pid, 2000);
    if (!tracer) console.log("strace not installed: the kill points are wherever polling lands");
    const call = client.call("Node", "NodePublishVolume", {
      volumeId,
      targetPath: target,
      volumeCapability: CAPABILITY,
      readonly: true,
      volumeContext: kubeletContext("many-ssi", pod, { "": jwt }),
    }).then(() => "published", () => "failed");
    const mark = (FILES * percent) / 100;
    let count = 0;
    while ((count = written(folder)) < mark) {
      assert(Date.now() < deadline, `no kill point at ${percent} %: ${count} files`);
      await new Promise((r) => setTimeout(r, 1));
    }
    Deno.kill(pid, "SIGKILL");
    await tracer?.done;
    assertEquals(await call, "failed", `killed at ${count} files: the publish had completed`);
    console.log(`killed at ${count} of ${FILES} files (mark ${mark})`);
    client.close();
    await driver.stop();
    const restarted = await startCsi(DRIVER_OPTS());
    Object.assign(await setUp(), { driver: restarted, client: csiClient(restarted.socket) });
    await unpublish(volumeId, target);
    assertEquals(await mountsUnder(DIR), mounts, `mounts left after a kill at ${count} files`);
    assertEquals(written(`${DIR}/state/volumes`), states, `state left after a kill at ${count}`);
    assertEquals(await Deno.stat(folder).then(() => "exists", () => "gone"), "gone");
  }
  // After the restarts, a 500-file publish completes.
  const { e, volumeId, target } = await publishNew("many-ssi");
  assertEquals(e?.details, undefined);
  assertEquals(volumeNames(target).length, FILES);
  assertEquals(await Deno.readTextFile(`${target}/f499`), "v499");
  await unpublish(volumeId, target);
});

/** Replaces a SecretsStoreImport's spec.files, as `kubectl apply` of an edit would. */
async function editSsi(name: string, files: unknown[]) {
  const path = `/apis/deckhouse.io/v1alpha1/namespaces/${NS}/secretsstoreimports/${name}`;
  const cur = await env.kube.api<{ spec: Record<string, unknown> }>("GET", path);
  await env.kube.api("PUT", path, { ...cur, spec: { ...cur.spec, files } });
}

/** The saved state of a volume, as the driver wrote it. */
async function savedState(volumeId: string) {
  for (const e of Deno.readDirSync(`${DIR}/state/volumes`)) {
    const s = JSON.parse(await Deno.readTextFile(`${DIR}/state/volumes/${e.name}`));
    if (s.volumeId === volumeId) return s as { spec: { files: Array<{ name: string }> } };
  }
  return undefined;
}

suite.test("an edited SecretsStoreImport reaches a mounted volume within a rotation (file added, removed, renamed, source changed), never torn; the edit is saved", async () => {
  const { driver } = await setUp();
  await env.bao.api("PUT", "demo-kv/data/csi-edit-a", { data: { V: "value-a-is-longer" } });
  await env.bao.api("PUT", "demo-kv/data/csi-edit-b", { data: { V: "b" } });
  const from = (p: string) => ({ path: `demo-kv/data/csi-edit-${p}`, key: "V" });
  await createSsi(
    ssi("edit-ssi", [
      { name: "keep", source: from("a") },
      { name: "gone", source: from("a") },
      { name: "old-name", source: from("b") },
      { name: "src", source: from("a") },
    ]),
  );
  const { e, volumeId, target } = await publishNew("edit-ssi");
  assertEquals(e?.details, undefined);
  assertEquals(volumeNames(target), ["gone", "keep", "old-name", "src"]);
  const other = await publishNew("edit-ssi"); // a second volume of it: one read serves both
  assertEquals(other.e?.details, undefined);
  const kubeMark = await auditMark(env.kube.auditLog);
  const logMark = (await Deno.readTextFile(driver.logFile)).length;
  const reader = readLoop(`${target}/src`, ["value-a-is-longer", "b"]);
  const keeper = readLoop(`${target}/keep`, ["value-a-is-longer"]);
  await editSsi("edit-ssi", [
    { name: "keep", source: from("a") },
    { name: "added", source: from("b") },
    { name: "new-name", source: from("b") },
    { name: "src", source: from("b") },
  ]);
  await waitUntil(
    "the edit in the volume",
    async () =>
      volumeNames(target).join(",") === "added,keep,new-name,src" &&
      (await Deno.readTextFile(`${target}/src`)) === "b",
    15_000,
    driver.logFile,
  );
  for (const r of [reader, keeper]) {
    const { reads, torn } = await r.stop();
    assertEquals(torn, [], `${torn.length} torn reads of ${reads}`);
  }
  assertEquals(await Deno.readTextFile(`${target}/added`), "b");
  assertEquals(await Deno.readTextFile(`${target}/new-name`), "b");
  assertEquals(await Deno.readTextFile(`${target}/keep`), "value-a-is-longer");
  assertEquals(
    (await savedState(volumeId))?.spec.files.map((f) => f.name),
    ["keep", "added", "new-name", "src"],
  );
  await waitUntil(
    "the other volume edited",
    () => Promise.resolve(volumeNames(other.target).join(",") === "added,keep,new-name,src"),
    15_000,
  );
  // Each sweep read the SecretsStoreImport once for its two volumes (one more for a sweep
  // under way at either end).
  const sweepsSince = async () =>
    ((await Deno.readTextFile(driver.logFile)).slice(logMark)
      .match(/ rotation component=csi volumes=/g) ?? []).length;
  await waitUntil("three sweeps", async () => (await sweepsSince()) >= 3, 15_000);
  const sweeps = await sweepsSince();
  const gets = (await requestsSince(kubeMark, CSI_USER))
    .filter((r) => r.verb === "get" && r.name === "edit-ssi").length;
  assert(gets >= 1 && gets <= sweeps + 1, `${gets} reads of edit-ssi in ${sweeps} sweeps`);
  await unpublish(volumeId, target);
  await unpublish(other.volumeId, other.target);
});

suite.test("a deleted SecretsStoreImport keeps the volume's last good files and logs a warning naming it; an edit of spec.role waits for a new Pod", async () => {
  const { driver } = await setUp();
  await env.bao.api("PUT", "demo-kv/data/csi-deleted", { data: { V: "first" } });
  const files = [{ name: "f", source: { path: "demo-kv/data/csi-deleted", key: "V" } }];
  await createSsi(ssi("deleted-ssi", files));
  const { e, volumeId, target } = await publishNew("deleted-ssi");
  assertEquals(e?.details, undefined);
  const path = `/apis/deckhouse.io/v1alpha1/namespaces/${NS}/secretsstoreimports/deleted-ssi`;
  const cur = await env.kube.api<{ spec: Record<string, unknown> }>("GET", path);
  await env.kube.api("PUT", path, {
    ...cur,
    spec: { ...cur.spec, role: "other-role", files: [...files, { ...files[0], name: "g" }] },
  });
  await waitUntil(
    "the warning about spec.role",
    async () =>
      (await Deno.readTextFile(driver.logFile)).includes(
        `SecretsStoreImport ${NS}/deleted-ssi: an edit of spec.role applies to new Pods only`,
      ),
    15_000,
  );
  assertEquals(volumeNames(target), ["f"]);
  await env.kube.api(
    "DELETE",
    `/apis/deckhouse.io/v1alpha1/namespaces/${NS}/secretsstoreimports/deleted-ssi`,
  );
  await env.bao.api("PUT", "demo-kv/data/csi-deleted", { data: { V: "second" } });
  const warnings = async () =>
    (await Deno.readTextFile(driver.logFile)).split("\n").filter((l) =>
      l.includes(`${NS}/deleted-ssi`) && l.includes("not found") && l.includes("last files kept")
    ).length;
  await waitUntil("two warnings naming it", async () => (await warnings()) >= 2, 15_000);
  // Nothing was rotated meanwhile: the last good files, as the store had them before.
  assertEquals(await Deno.readTextFile(`${target}/f`), "first");
  assertEquals(volumeNames(target), ["f"]);
  // Recreated: rotation resumes with it.
  await createSsi(ssi("deleted-ssi", files));
  await waitUntil(
    "rotation after the SecretsStoreImport is back",
    async () => (await Deno.readTextFile(`${target}/f`)) === "second",
    15_000,
  );
  await unpublish(volumeId, target);
});

suite.test("with DiscoverLocalStronghold and no Stronghold Secret the driver starts and serves; a publish is UNAVAILABLE naming the Secret until it exists, then mounts", async () => {
  await setUp();
  const secretPath = "/api/v1/namespaces/d8-stronghold/secrets/stronghold-tls";
  assertEquals(
    (await env.kube.api<{ code?: number }>("GET", secretPath, undefined, [404])).code,
    404,
  );
  const port = freePort();
  const driver = await startCsi({
    ...DRIVER_OPTS(),
    dir: `${env.dir}/csi-no-ca`,
    // Targets of the Pods newPod() makes lie in the kubelet folder of the suite's driver.
    kubeletDir: DIR,
    // The chart's default connectionConfiguration, with the address of the test store.
    settings: ["connection:", `  url: ${env.bao.address}`].join("\n"),
    extraArgs: [`--metrics-listen=127.0.0.1:${port}`],
  });
  const client = csiClient(driver.socket);
  const caKnown = async () => {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    return text.split("\n").find((l) => l.startsWith("secrets_store_store_ca_known "));
  };
  const { pod, jwt } = await newPod();
  const req = {
    volumeId: `csi-${pod.uid}`,
    targetPath: targetOf(pod),
    volumeCapability: CAPABILITY,
    readonly: true,
    volumeContext: kubeletContext("myapp-ssi", pod, { "": jwt }),
  };
  try {
    assertEquals(await caKnown(), "secrets_store_store_ca_known 0");
    const e = await client.call("Node", "NodePublishVolume", req).then(
      () => undefined,
      (e: GrpcFailure) => e,
    );
    assertEquals(e?.code, grpc.status.UNAVAILABLE, e?.details);
    assertStringIncludes(e!.details, `SecretsStoreImport ${NS}/myapp-ssi`);
    assertStringIncludes(e!.details, "Secret d8-stronghold/stronghold-tls key ca.crt");
    assertEquals(mountsBelow(`${DIR}/pods/${pod.uid}`), []);

    await env.kube.api("POST", "/api/v1/namespaces", { metadata: { name: "d8-stronghold" } }, [
      409,
    ]);
    await env.kube.api("POST", "/api/v1/namespaces/d8-stronghold/secrets", {
      metadata: { name: "stronghold-tls" },
      data: { "ca.crt": btoa(env.bao.caCert) },
    });
    // As the kubelet does: the same publish again until it succeeds. The driver looks for the
    // CA again with a backoff bounded by minutes; the first retries come within seconds.
    await waitUntil(
      "a publish once Stronghold's CA is readable",
      () => client.call("Node", "NodePublishVolume", req).then(() => true, () => false),
      90_000,
      driver.logFile,
    );
    assertEquals(await Deno.readTextFile(`${req.targetPath}/db-password`), "secret-password");
    assertEquals(await caKnown(), "secrets_store_store_ca_known 1");
  } finally {
    // Also after a failure: the suite's teardown requires that no mount is left.
    await client.call("Node", "NodeUnpublishVolume", {
      volumeId: req.volumeId,
      targetPath: req.targetPath,
    }).catch(() => {});
    client.close();
    await driver.stop();
    await env.kube.api("DELETE", secretPath, undefined, [404]);
  }
});
