/** `secrets-store csi serve` called the way the kubelet calls it, against the real OpenBao,
 * the real kube-apiserver (the project's SecretsStoreImport CRD applied, tokens from
 * TokenRequest) and real tmpfs and bind mounts. */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "./harness/assert.ts";
import {
  type CsiClient,
  csiClient,
  type CsiDriver,
  kubeletContext,
  startCsi,
} from "./harness/csi.ts";
import { testEnv } from "./harness/env.ts";
import * as grpc from "@grpc/grpc-js";
import { freePort, ROOT, waitUntil } from "./harness/process.ts";
import { registrationService } from "../lib/csi/proto.ts";
import { GUIDE } from "./harness/store_setup.ts";
import { startLatencyProxy } from "./harness/latency_proxy.ts";
import { watchFile } from "./harness/inotify.ts";
import { isMountPoint } from "../lib/csi/mount.ts";

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
  kube: { url: env.kube.url, caFile: env.kube.caFile, adminToken: env.kube.adminToken },
  settings: csiSettings(env.bao.address),
  rotationInterval: "500ms",
});
let ctx: Promise<Ctx> | undefined;

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

function setUp(): Promise<Ctx> {
  return ctx ??= (async () => {
    const crd = await Deno.readTextFile(
      `${ROOT}/deploy/helm/secrets-store/crds/secretsstoreimports.deckhouse.io.yaml`,
    );
    const { parse } = await import("yaml");
    await env.kube.api(
      "POST",
      "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
      parse(crd),
    );
    await waitUntil("CRD established", async () => {
      const r = await env.kube.api<
        { status?: { conditions?: Array<{ type: string; status: string }> } }
      >(
        "GET",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/secretsstoreimports.deckhouse.io",
      );
      return !!r.status?.conditions?.some((c) => c.type === "Established" && c.status === "True");
    }, 20_000);
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
  })();
}

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
/** NodePublishVolume as the kubelet sends it for a new Pod; returns the target path. */
async function publish(
  ssiName: string,
  c?: CsiClient,
): Promise<{ volumeId: string; target: string; pod: Record<string, string> }> {
  const { client } = await setUp();
  const uid = `pod-uid-${++n}`;
  const pod = { namespace: NS, name: `myapp3-${n}`, uid, serviceAccount: GUIDE.serviceAccount };
  const target = `${DIR}/pods/${uid}/volumes/kubernetes.io~csi/secrets/mount`;
  const volumeId = `csi-${uid}`;
  const jwt = await env.kube.tokenFor(NS, GUIDE.serviceAccount);
  await (c ?? client).call("Node", "NodePublishVolume", {
    volumeId,
    targetPath: target,
    volumeCapability: { mount: {}, accessMode: { mode: "SINGLE_NODE_READER_ONLY" } },
    readonly: true,
    volumeContext: kubeletContext(ssiName, pod, { "": jwt }),
  });
  return { volumeId, target, pod };
}

async function unpublish(volumeId: string, target: string) {
  const { client } = await setUp();
  await client.call("Node", "NodeUnpublishVolume", { volumeId, targetPath: target });
}

Deno.test("myapp3: the guide's myapp-ssi mounts db-password, read-only, with the password", async () => {
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

Deno.test("the binary keytab arrives byte for byte", async () => {
  const { volumeId, target } = await publish("keytab-ssi");
  assertEquals(await Deno.readFile(`${target}/keytab`), KEYTAB);
  await unpublish(volumeId, target);
});

Deno.test("invalid base64, a missing key and a forbidden path fail the publish and leave nothing mounted", async () => {
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

Deno.test("the CRD refuses file names like .. and a/b", async () => {
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

Deno.test("publish is idempotent and unpublish removes everything", async () => {
  const { client } = await setUp();
  const first = await publish("myapp-ssi");
  const jwt = await env.kube.tokenFor(NS, GUIDE.serviceAccount);
  await client.call("Node", "NodePublishVolume", {
    volumeId: first.volumeId,
    targetPath: first.target,
    volumeCapability: { mount: {}, accessMode: { mode: "SINGLE_NODE_READER_ONLY" } },
    readonly: true,
    volumeContext: kubeletContext("myapp-ssi", first.pod as never, { "": jwt }),
  });
  assertEquals(await Deno.readTextFile(`${first.target}/db-password`), "secret-password");
  await unpublish(first.volumeId, first.target);
  await unpublish(first.volumeId, first.target); // twice: still fine
  assert(!isMountPoint(first.target));
  assertEquals(await Deno.stat(first.target).then(() => "exists", () => "gone"), "gone");
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

Deno.test("autorotation: the file changes, its mtime moves, one watch on it sees IN_MODIFY each time, no read is torn", async () => {
  const values = ["first-value", "second-value-is-longer", "third"];
  await env.bao.api("PUT", "demo-kv/data/csi-rotate", { data: { TOKEN: values[0] } });
  const { volumeId, target } = await publish("rotate-ssi");
  const file = `${target}/token`;
  assertEquals(await Deno.readTextFile(file), values[0]);
  const watch = await watchFile(file, 20);
  const reader = readLoop(file, values);
  for (const next of values.slice(1)) {
    const mtime = (await Deno.stat(file)).mtime!.getTime();
    const modifies = watch.lines.filter((l) => l.includes("IN_MODIFY")).length;
    await env.bao.api("PUT", "demo-kv/data/csi-rotate", { data: { TOKEN: next } });
    await waitUntil(
      `rotation to "${next}"`,
      async () => (await Deno.readTextFile(file)) === next,
      15_000,
    );
    assert((await Deno.stat(file)).mtime!.getTime() > mtime, "mtime must move");
    await waitUntil(
      "IN_MODIFY",
      () => Promise.resolve(watch.lines.filter((l) => l.includes("IN_MODIFY")).length > modifies),
      5000,
    );
  }
  const { reads, torn } = await reader.stop();
  assertEquals(torn, [], `${torn.length} torn reads out of ${reads}`);
  assert(reads > 100, `only ${reads} reads`);
  await unpublish(volumeId, target);
  await watch.stop();
});

Deno.test("a store outage during rotation keeps the last good files; rotation resumes after it", async () => {
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
  const { volumeId, target: dir } = await publish("outage-ssi");
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
  link = startLatencyProxy(target, 0, port);
  await waitUntil(
    "rotation after the outage",
    async () => (await Deno.readTextFile(`${dir}/token`)) === "after-outage",
    15_000,
  );
  await link.close();
  await unpublish(volumeId, dir);
});

Deno.test("after a driver restart the mounts stay, and rotation resumes once the kubelet republishes", async () => {
  const c = await setUp();
  await env.bao.api("PUT", "demo-kv/data/csi-rotate", { data: { TOKEN: "before-restart" } });
  const { volumeId, target, pod } = await publish("rotate-ssi");
  c.client.close();
  await c.driver.stop();
  assertEquals(await Deno.readTextFile(`${target}/token`), "before-restart"); // no driver, still readable
  const driver = await startCsi(DRIVER_OPTS());
  const client = csiClient(driver.socket);
  ctx = Promise.resolve({ driver, client });
  assert(isMountPoint(target));
  await client.call("Node", "NodePublishVolume", {
    volumeId,
    targetPath: target,
    volumeCapability: { mount: {}, accessMode: { mode: "SINGLE_NODE_READER_ONLY" } },
    readonly: true,
    volumeContext: kubeletContext("rotate-ssi", pod as never, {
      "": await env.kube.tokenFor(NS, GUIDE.serviceAccount),
    }),
  });
  await env.bao.api("PUT", "demo-kv/data/csi-rotate", { data: { TOKEN: "after-restart" } });
  await waitUntil(
    "rotation after restart",
    async () => (await Deno.readTextFile(`${target}/token`)) === "after-restart",
    15_000,
  );
  await unpublish(volumeId, target);
});

Deno.test("the driver registers itself with the kubelet and answers its liveness probe", async () => {
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

Deno.test("stop the CSI driver; no mount is left behind", async () => {
  if (!ctx) return;
  const { driver, client } = await ctx;
  client.close();
  await driver.stop();
  const left = (await Deno.readTextFile("/proc/self/mountinfo")).split("\n").filter((l) =>
    l.includes(DIR)
  );
  assertEquals(left, []);
});
