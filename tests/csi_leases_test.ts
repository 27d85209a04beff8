/** The CSI driver and dynamic secrets, against the real OpenBao, kube-apiserver and a real
 * PostgreSQL: OpenBao's database engine issues a PostgreSQL role per read, with a lease of 9 s
 * that can be renewed up to 18 s, and the driver sweeps every 2 s. The driver renews the lease
 * instead of reading the path again (the files stay as they are), reads it anew when the
 * maximum TTL comes near (new username, the old lease revoked: its PostgreSQL role dropped),
 * and revokes the lease when the volume is unpublished. Every store request is counted in
 * OpenBao's audit log. */
import { assert, assertEquals } from "./harness/assert.ts";
import {
  applySsiCrd,
  createFileSsi,
  createPod,
  type CsiClient,
  csiClient,
  type CsiDriver,
  driverPid,
  kubeletContext,
  podToken,
  startCsi,
} from "./harness/csi.ts";
import { testEnv } from "./harness/env.ts";
import { freePort, waitUntil } from "./harness/process.ts";
import {
  databaseRole,
  mountDatabaseEngine,
  type Postgres,
  startPostgres,
} from "./harness/postgres.ts";
import { GUIDE, guideSaRole } from "./harness/store_setup.ts";
import { Suite } from "./harness/suite.ts";
import { mountsBelow, unmount } from "../lib/csi/mount.ts";

const env = testEnv();
const NS = GUIDE.namespace;
const DIR = `${env.dir}/csi-leases`;
const MOUNT = "csi-leases-db";
const CREDS = `${MOUNT}/creds/app`;
const ROLE = "csi-leases-role";
const SSI = "csi-leases-ssi";
const SHORT_SSI = "csi-leases-short-ssi";
const CAPABILITY = { mount: {}, accessMode: { mode: "SINGLE_NODE_READER_ONLY" } };

interface Ctx {
  pg: Postgres;
  driver: CsiDriver;
  client: CsiClient;
  metricsPort: number;
}

const suite = new Suite<Ctx>({
  setUp: async () => {
    const pg = await startPostgres();
    pgStarted = pg;
    await mountDatabaseEngine(env.bao.api, MOUNT, pg, "csi-leases");
    await databaseRole(env.bao.api, MOUNT, "app", { defaultTtl: "9s", maxTtl: "18s" });
    // A lease shorter than three sweeps, which the driver warns about.
    await databaseRole(env.bao.api, MOUNT, "short", { defaultTtl: "4s", maxTtl: "8s" });
    await guideSaRole(env.bao, ROLE, { policies: "csi-leases", ttl: "10m" });
    await applySsiCrd(env.kube);
    await createFileSsi(env.kube, NS, SHORT_SSI, ROLE, [
      { name: "username", path: `${MOUNT}/creds/short`, key: "username" },
    ]);
    await createFileSsi(env.kube, NS, SSI, ROLE, [
      { name: "username", path: CREDS, key: "username" },
      { name: "password", path: CREDS, key: "password" },
    ]);
    const metricsPort = freePort();
    const driver = await startCsi({
      dir: DIR,
      kube: { url: env.kube.url, caFile: env.kube.caFile, token: env.kube.csiToken },
      binary: env.binary,
      settings: [
        "connectionConfiguration: Manual",
        "connection:",
        `  url: ${env.bao.address}`,
        "  caCert: |",
        ...env.bao.caCert.trim().split("\n").map((l) => `    ${l}`),
      ].join("\n"),
      rotationInterval: "2s",
      extraArgs: [`--metrics-listen=127.0.0.1:${metricsPort}`],
    });
    return { pg, driver, client: csiClient(driver.socket), metricsPort };
  },
  tearDown: async (c) => {
    c.client.close();
    await c.driver.stop();
    assertEquals(mountsBelow(DIR), [], "mounts left behind");
    // Unmounting revokes what is left, while PostgreSQL can still drop the roles.
    await env.bao.api("DELETE", `sys/mounts/${MOUNT}`);
    await c.pg.stop();
  },
  onUnload: () => {
    try {
      Deno.kill(driverPid(`${DIR}/csi.sock`), "SIGKILL");
    } catch { /* not running */ }
    for (const m of mountsBelow(DIR)) unmount(m);
    pgStarted?.stopSync();
  },
});
let pgStarted: Postgres | undefined;

let n = 0;
/** A new Pod's volume of the SecretsStoreImport, published as the kubelet does. */
async function publish(ssi = SSI): Promise<{ volumeId: string; target: string }> {
  const { client } = await suite.ready();
  const pod = await createPod(env.kube, NS, `csi-leases-${++n}`, GUIDE.serviceAccount);
  const jwt = await podToken(env.kube, pod);
  const target = `${DIR}/pods/${pod.uid}/volumes/kubernetes.io~csi/secrets/mount`;
  const volumeId = `csi-${pod.uid}`;
  await client.call("Node", "NodePublishVolume", {
    volumeId,
    targetPath: target,
    volumeCapability: CAPABILITY,
    readonly: true,
    volumeContext: kubeletContext(ssi, pod, { "": jwt }),
  });
  return { volumeId, target };
}

/** The audit log's length now, so a test counts only the requests after it. */
async function auditMark(): Promise<number> {
  return (await Deno.readTextFile(env.bao.auditLog)).trim().split("\n").length;
}

/** Answers to requests to `path` since `mark`, each with whether it succeeded and its lease. */
async function audited(mark: number, path: string) {
  return (await Deno.readTextFile(env.bao.auditLog)).trim().split("\n").slice(mark)
    .map((l) => JSON.parse(l))
    .filter((e) => e.type === "response" && e.request?.path === path)
    .map((e) => ({ ok: !e.error, lease: e.response?.secret?.lease_id as string | undefined }));
}

/** The store request counter's value for `operation` with outcome ok. */
async function requestsOk(port: number, operation: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split("\n").find((l) =>
    l.startsWith("secrets_store_store_requests_total{") &&
    l.includes(`operation="${operation}"`) && l.includes(`outcome="ok"`) &&
    l.includes(`store_role="${ROLE}"`)
  );
  return line ? Number(line.split(" ").pop()) : 0;
}

suite.test("a database creds file: the lease is renewed at the sweeps, not read again; near its maximum TTL the path is read anew and the old lease revoked", async () => {
  const { pg, metricsPort } = await suite.ready();
  const mark = await auditMark();
  const { volumeId, target } = await publish();
  const first = await Deno.readTextFile(`${target}/username`);
  const firstStat = await Deno.stat(`${target}/username`);
  assert(await pg.roleExists(first), "the first credentials' role exists");
  // The lease (9 s) is renewed at two thirds of its grant, about 6 s in.
  await waitUntil(
    "a renewal of the lease",
    async () => (await audited(mark, "sys/leases/renew")).some((r) => r.ok),
    20_000,
  );
  assertEquals(await Deno.readTextFile(`${target}/username`), first, "the file did not change");
  assertEquals((await Deno.stat(`${target}/username`)).mtime, firstStat.mtime);
  assertEquals((await audited(mark, CREDS)).length, 1, "the creds were read once");
  // The maximum TTL (18 s) comes near: the path is read anew, the files change.
  await waitUntil(
    "new credentials in the file",
    async () => (await Deno.readTextFile(`${target}/username`)) !== first,
    30_000,
  );
  const second = await Deno.readTextFile(`${target}/username`);
  assert(second !== first);
  assert(await pg.roleExists(second), "the new credentials' role exists");
  const reads = await audited(mark, CREDS);
  assertEquals(reads.length, 2, "read once more, for the new credentials");
  // The old lease is revoked once the new files are in place, before its natural end: its
  // PostgreSQL role is dropped.
  await waitUntil(
    "the old lease revoked",
    async () =>
      (await audited(mark, "sys/leases/revoke")).some((r) => r.ok) &&
      !(await pg.roleExists(first)),
    10_000,
  );
  assert(await requestsOk(metricsPort, "renew_lease") >= 1, "renew_lease counted");
  assert(await requestsOk(metricsPort, "revoke_lease") >= 1, "revoke_lease counted");
  await (await suite.ready()).client.call("Node", "NodeUnpublishVolume", {
    volumeId,
    targetPath: target,
  });
});

suite.test("unpublishing the last volume that uses a leased path revokes its lease: its PostgreSQL role is gone", async () => {
  const { pg, client } = await suite.ready();
  const { volumeId, target } = await publish();
  const user = await Deno.readTextFile(`${target}/username`);
  assert(await pg.roleExists(user));
  const mark = await auditMark();
  await client.call("Node", "NodeUnpublishVolume", { volumeId, targetPath: target });
  await waitUntil(
    "the lease revoked at unpublish",
    async () =>
      (await audited(mark, "sys/leases/revoke")).some((r) => r.ok) && !(await pg.roleExists(user)),
    10_000,
  );
  assertEquals((await audited(mark, CREDS)).length, 0, "no read after unpublish");
});

suite.test("a lease shorter than three rotation intervals is warned about in the driver's log, naming the path", async () => {
  const { driver, client } = await suite.ready();
  const { volumeId, target } = await publish(SHORT_SSI);
  await waitUntil(
    "the warning in the driver's log",
    async () =>
      (await Deno.readTextFile(driver.logFile)).split("\n").some((l) =>
        l.includes("shorter than three rotation intervals") && l.includes(`${MOUNT}/creds/short`)
      ),
    10_000,
  );
  await client.call("Node", "NodeUnpublishVolume", { volumeId, targetPath: target });
});

suite.test("a driver stopped with a leased volume mounted keeps that lease and its token: the mounted credentials still log in", async () => {
  const { pg, driver, client } = await suite.ready();
  const { target } = await publish();
  const user = await Deno.readTextFile(`${target}/username`);
  const password = await Deno.readTextFile(`${target}/password`);
  const mark = await auditMark();
  client.close();
  // As at a DaemonSet rollout: the mounts stay, and the apps keep using them.
  await driver.stop();
  assertEquals(await audited(mark, "sys/leases/revoke"), [], "no lease revoked at shutdown");
  assertEquals(await audited(mark, "auth/token/revoke-self"), [], "its token kept");
  const login = await pg.psql("select 1", { username: user, password });
  assert(login.ok, `the mounted credentials still log in: ${login.err}`);
  // The driver is not restarted here: what it left mounted is undone by hand.
  for (const m of mountsBelow(DIR)) unmount(m);
});
