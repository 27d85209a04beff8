/** VolumeManager over an in-memory store and API server, with real tmpfs and bind mounts in
 * a temporary folder: these tests need root. */
import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "../../tests/harness/assert.ts";
import { FakeStore } from "../../tests/harness/fake_store.ts";
import { localCaMissing } from "../config/connection.ts";
import { parseStorePath } from "../config/store_path.ts";
import type { ApiPath } from "../kube/api_path.ts";
import { KubeError } from "../kube/client.ts";
import { silentLogger } from "../log/logger.ts";
import { CsiError, status } from "./errors.ts";
import { isMountPoint, mountsBelow, unmount } from "./mount.ts";
import { SsiSpec } from "./ssi.ts";
import { saveState } from "./state.ts";
import { StorePool } from "./store_pool.ts";
import { kubeletDir } from "./target_path.ts";
import { volumeFolder } from "./volume_id.ts";
import { type PublishRequest, VolumeManager } from "./volumes.ts";

const NS = "myapp-namespace";
const K = "csi.storage.k8s.io/";
const SECRET = "demo-kv/data/myapp-secret";
const OTHER = "demo-kv/data/other-secret";

interface World {
  dir: string;
  store: FakeStore;
  /** SecretsStoreImports by name, in namespace NS. */
  ssis: Map<string, unknown>;
  volumes: VolumeManager;
  pool: StorePool;
}

/** Runs `fn` with a manager over a fresh store (SECRET holds DB_PASS) and API server, in a
 * folder whose mounts are all undone afterwards. */
async function withVolumes(
  fn: (w: World) => Promise<void>,
  o: {
    volumeBytes?: number;
    readConcurrency?: number;
    /** The installation's caMissing at each call (stronghold_ca.ts); none when unset. */
    caMissing?: () => string | undefined;
  } = {},
): Promise<void> {
  const dir = Deno.makeTempDirSync({ prefix: "csi-volumes-test-" });
  const store = new FakeStore();
  store.secrets.set(SECRET, { DB_PASS: "pw-1" });
  store.secrets.set(OTHER, { TOKEN: "other-1" });
  const ssis = new Map<string, unknown>();
  const kube = {
    get<T>(path: ApiPath): Promise<T> {
      const name = path.split("/").at(-1)!;
      const ssi = path.includes(`/namespaces/${NS}/`) ? ssis.get(name) : undefined;
      if (!ssi) return Promise.reject(new KubeError(404, path, "not found (HTTP 404)"));
      return Promise.resolve(structuredClone(ssi) as T);
    },
  };
  const pool = new StorePool({
    requestTimeoutMs: 1000,
    logger: silentLogger,
    createTransport: () => store.transport(),
  });
  Deno.mkdirSync(`${dir}/kubelet`);
  const volumes = new VolumeManager({
    stateDir: `${dir}/state`,
    kubeletDir: kubeletDir(`${dir}/kubelet`),
    kube,
    defaults: () => ({
      address: "https://store.example:8200",
      authPath: parseStorePath("kubernetes_local"),
      allowInsecureHttp: false,
      caMissing: o.caMissing?.(),
    }),
    pool,
    volumeBytes: o.volumeBytes ?? 1 << 20,
    ...(o.readConcurrency === undefined ? {} : { readConcurrency: o.readConcurrency }),
    logger: silentLogger,
  });
  try {
    await fn({ dir, store, ssis, volumes, pool });
  } finally {
    pool.close();
    for (const m of mountsBelow(dir)) unmount(m);
    Deno.removeSync(dir, { recursive: true });
  }
}

function ssi(name: string, files: Array<{ name: string; path: string; key: string }>) {
  return {
    metadata: { name, namespace: NS },
    spec: {
      type: "CSI",
      role: "myapp-role",
      files: files.map((f) => ({ name: f.name, source: { path: f.path, key: f.key } })),
    },
  };
}

/** The guide's myapp-ssi: one file, db-password, from SECRET's DB_PASS. */
const dbPassword = () => ssi("myapp-ssi", [{ name: "db-password", path: SECRET, key: "DB_PASS" }]);

let pods = 0;
/** A Pod of ServiceAccount `sa`: its uid, its kubelet-bound token, accepted by the store
 * unless `refused`, and the publish request of one volume of it. */
function pod(w: World, sa = "myapp-sa", o: { refused?: boolean; ssiName?: string } = {}) {
  const n = ++pods;
  const uid = `6f0b8c1e-2a4d-4c3e-9b7a-${String(n).padStart(12, "0")}`;
  const name = `myapp-${n}`;
  const payload = {
    "kubernetes.io": {
      namespace: NS,
      serviceaccount: { name: sa, uid: "sa-uid" },
      pod: { name, uid },
    },
    exp: Math.floor(Date.now() / 1000) + 3600,
  };
  const b64 = (x: unknown) =>
    btoa(JSON.stringify(x)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
  const jwt = `${b64({ alg: "RS256" })}.${b64(payload)}.c2ln`;
  if (!o.refused) w.store.accepted.set(jwt, "myapp-role");
  const targetPath = `${w.dir}/kubelet/pods/${uid}/volumes/kubernetes.io~csi/secrets/mount`;
  const req: PublishRequest = {
    volumeId: `csi-${n}`,
    targetPath,
    volumeContext: {
      secretsStoreImport: o.ssiName ?? "myapp-ssi",
      [K + "ephemeral"]: "true",
      [K + "pod.namespace"]: NS,
      [K + "pod.name"]: name,
      [K + "pod.uid"]: uid,
      [K + "serviceAccount.name"]: sa,
      [K + "serviceAccount.tokens"]: JSON.stringify({
        "": { token: jwt, expirationTimestamp: "" },
      }),
    },
  };
  return { req, targetPath, jwt };
}

const read = (target: string, file: string) => Deno.readTextFileSync(`${target}/${file}`);

Deno.test("VolumeManager publishes the SecretsStoreImport's files read-only at the target, and unpublish removes every trace", async () => {
  await withVolumes(async (w) => {
    w.ssis.set("myapp-ssi", dbPassword());
    const p = pod(w);
    await w.volumes.publish(p.req);
    assertEquals(read(p.targetPath, "db-password"), "pw-1");
    assert(isMountPoint(p.targetPath), "the target is a mount");
    let refused = false;
    try {
      Deno.writeTextFileSync(`${p.targetPath}/db-password`, "x");
    } catch {
      refused = true;
    }
    assert(refused, "the volume is read-only");
    await w.volumes.unpublish(p.req.volumeId, p.targetPath);
    assertEquals(mountsBelow(w.dir), []);
    assertEquals([...Deno.readDirSync(`${w.dir}/state/volumes`)], []);
    assertEquals(w.volumes.size, 0);
  });
});

Deno.test("VolumeManager: volumes of one ServiceAccount share each read at rotation; another ServiceAccount reads for itself", async () => {
  await withVolumes(async (w) => {
    w.ssis.set("myapp-ssi", dbPassword());
    const [a1, a2, b] = [pod(w), pod(w), pod(w, "other-sa")];
    for (const p of [a1, a2, b]) await w.volumes.publish(p.req);
    w.store.secrets.set(SECRET, { DB_PASS: "pw-2" });
    w.store.readPaths.length = 0;
    const stats = await w.volumes.sweep();
    assertEquals({ volumes: stats.volumes, identities: stats.identities, reads: stats.reads }, {
      volumes: 3,
      identities: 2,
      reads: 2,
    });
    assertEquals(w.store.readPaths, [SECRET, SECRET]);
    for (const p of [a1, a2, b]) assertEquals(read(p.targetPath, "db-password"), "pw-2");
    assertEquals(stats.changedFiles, 3);
  });
});

Deno.test("VolumeManager: a token the store refuses fails its own publish with PERMISSION_DENIED and leaves nothing; the other volume rotates on", async () => {
  await withVolumes(async (w) => {
    w.ssis.set("myapp-ssi", dbPassword());
    const good = pod(w);
    await w.volumes.publish(good.req);
    const bad = pod(w, "myapp-sa", { refused: true });
    const e = await assertRejects(() => w.volumes.publish(bad.req), CsiError);
    assertEquals(e.code, status.PERMISSION_DENIED);
    assertStringIncludes(e.message, `login as ServiceAccount ${NS}/myapp-sa`);
    assert(!e.message.includes(bad.jwt.split(".")[1]!), "the token is not in the error");
    assert(!isMountPoint(bad.targetPath), "nothing is mounted for the refused volume");
    assertEquals(w.volumes.size, 1);
    w.store.secrets.set(SECRET, { DB_PASS: "pw-2" });
    assertEquals((await w.volumes.sweep()).failedVolumes, 0);
    assertEquals(read(good.targetPath, "db-password"), "pw-2");
  });
});

Deno.test("VolumeManager: a read that fails at rotation leaves the files, their content and mtime as they were", async () => {
  await withVolumes(async (w) => {
    w.ssis.set(
      "myapp-ssi",
      ssi("myapp-ssi", [
        { name: "db-password", path: SECRET, key: "DB_PASS" },
        { name: "token", path: OTHER, key: "TOKEN" },
      ]),
    );
    const p = pod(w);
    await w.volumes.publish(p.req);
    const mtime = Deno.statSync(`${p.targetPath}/db-password`).mtime?.getTime();
    // One secret changes, the other cannot be read: the volume keeps all its last files.
    w.store.secrets.set(SECRET, { DB_PASS: "pw-2" });
    w.store.failing.set(OTHER, 403);
    const stats = await w.volumes.sweep();
    assertEquals(stats.failedVolumes, 1);
    assertEquals(stats.changedFiles, 0);
    assertEquals(read(p.targetPath, "db-password"), "pw-1");
    assertEquals(read(p.targetPath, "token"), "other-1");
    assertEquals(Deno.statSync(`${p.targetPath}/db-password`).mtime?.getTime(), mtime);
    w.store.failing.clear();
    assertEquals((await w.volumes.sweep()).failedVolumes, 0);
    assertEquals(read(p.targetPath, "db-password"), "pw-2");
  });
});

Deno.test("VolumeManager: a failed read or a missing key at publish mounts nothing and saves no state", async () => {
  await withVolumes(async (w) => {
    w.ssis.set("gone", ssi("gone", [{ name: "f", path: "demo-kv/data/nothing", key: "K" }]));
    w.ssis.set("no-key", ssi("no-key", [{ name: "f", path: SECRET, key: "NO_SUCH_KEY" }]));
    for (
      const [ssiName, code, words] of [
        ["gone", status.NOT_FOUND, 'file "f"'],
        ["no-key", status.FAILED_PRECONDITION, "NO_SUCH_KEY"],
        ["not-there", status.NOT_FOUND, `SecretsStoreImport ${NS}/not-there not found`],
      ] as const
    ) {
      const p = pod(w, "myapp-sa", { ssiName });
      const e = await assertRejects(() => w.volumes.publish(p.req), CsiError);
      assertEquals(e.code, code, `${ssiName}: ${e.message}`);
      assertStringIncludes(e.message, words);
      assert(!e.message.includes("pw-1"), "no secret value in the error");
    }
    assertEquals(mountsBelow(w.dir), []);
    assertEquals(w.volumes.size, 0);
  });
});

Deno.test("VolumeManager refuses secrets larger than the volume with RESOURCE_EXHAUSTED naming the file and the setting", async () => {
  await withVolumes(async (w) => {
    w.store.secrets.set(SECRET, { DB_PASS: "x".repeat(64 * 1024) });
    w.ssis.set("myapp-ssi", dbPassword());
    const p = pod(w);
    const e = await assertRejects(() => w.volumes.publish(p.req), CsiError);
    assertEquals(e.code, status.RESOURCE_EXHAUSTED);
    assertStringIncludes(e.message, "db-password");
    assertStringIncludes(e.message, "--volume-size");
    assertEquals(mountsBelow(w.dir), []);
  }, { volumeBytes: 16 * 1024 });
});

Deno.test("VolumeManager keeps store reads in flight within readConcurrency", async () => {
  await withVolumes(async (w) => {
    const files = Array.from({ length: 24 }, (_, i) => {
      w.store.secrets.set(`demo-kv/data/s${i}`, { K: `v${i}` });
      return { name: `f${i}`, path: `demo-kv/data/s${i}`, key: "K" };
    });
    w.ssis.set("myapp-ssi", ssi("myapp-ssi", files));
    const p = pod(w);
    await w.volumes.publish(p.req);
    assertEquals(read(p.targetPath, "f23"), "v23");
    w.store.maxInFlight = 0;
    await w.volumes.sweep();
    assert(w.store.maxInFlight <= 3, `${w.store.maxInFlight} reads in flight at once`);
    assert(w.store.maxInFlight > 1, "reads do overlap");
  }, { readConcurrency: 3 });
});

Deno.test("VolumeManager: after unpublish the volume's token is never used again for its identity's logins", async () => {
  await withVolumes(async (w) => {
    w.ssis.set("myapp-ssi", dbPassword());
    const [gone, stays] = [pod(w), pod(w)];
    for (const p of [gone, stays]) await w.volumes.publish(p.req);
    await w.volumes.unpublish(gone.req.volumeId, gone.targetPath);
    w.store.issued.clear(); // the store token revoked: the next read logs in again
    w.store.logins.length = 0;
    assertEquals((await w.volumes.sweep()).failedVolumes, 0);
    assertEquals(w.store.logins, [stays.jwt]);
  });
});

Deno.test("VolumeManager: while the installation's CA is unknown, a publish that needs it is UNAVAILABLE naming the Secret, and rotation skips the volume", async () => {
  let missing: string | undefined = localCaMissing(
    "cannot read Secret d8-stronghold/stronghold-tls",
  );
  await withVolumes(async (w) => {
    w.ssis.set("myapp-ssi", dbPassword());
    const waiting = pod(w);
    const e = await assertRejects(() => w.volumes.publish(waiting.req), CsiError);
    assertEquals(e.code, status.UNAVAILABLE);
    assertStringIncludes(e.message, `SecretsStoreImport ${NS}/myapp-ssi`);
    assertStringIncludes(e.message, "Secret d8-stronghold/stronghold-tls key ca.crt");
    assertEquals([w.store.logins, mountsBelow(w.dir), w.volumes.size], [[], [], 0]);
    // The kubelet retries; once the CA is known the same request publishes.
    missing = undefined;
    await w.volumes.publish(waiting.req);
    assertEquals(read(waiting.targetPath, "db-password"), "pw-1");
    // A restored volume while the CA is unknown again keeps its files and is not read.
    missing = "unknown again";
    w.store.secrets.set(SECRET, { DB_PASS: "pw-2" });
    w.store.readPaths.length = 0;
    const stats = await w.volumes.sweep();
    assertEquals([stats.volumes, stats.failedVolumes, w.store.readPaths], [0, 0, []]);
    assertEquals(read(waiting.targetPath, "db-password"), "pw-1");
    missing = undefined;
    await w.volumes.sweep();
    assertEquals(read(waiting.targetPath, "db-password"), "pw-2");
    await w.volumes.unpublish(waiting.req.volumeId, waiting.targetPath);
  }, { caMissing: () => missing });
});

Deno.test("VolumeManager.restore() ignores a state file whose paths are not the driver's, and touches neither", async () => {
  await withVolumes(async (w) => {
    // A state file edited (or planted) to name a folder elsewhere on the node: a half-done
    // publish would otherwise have its source folder removed recursively.
    const victim = `${w.dir}/victim`;
    Deno.mkdirSync(victim);
    Deno.writeTextFileSync(`${victim}/keep`, "data");
    const uid = "6f0b8c1e-2a4d-4c3e-9b7a-999999999999";
    const good = `${w.dir}/kubelet/pods/${uid}/volumes/kubernetes.io~csi/secrets/mount`;
    const base = {
      pod: { namespace: NS, name: "p", uid, serviceAccount: "myapp-sa" },
      ssiName: "myapp-ssi",
      spec: SsiSpec.parse(dbPassword().spec),
      pending: true,
    };
    const states = `${w.dir}/state/volumes`;
    await saveState(states, { ...base, volumeId: "v-source", targetPath: good, sourceDir: victim });
    await saveState(states, {
      ...base,
      volumeId: "v-target",
      targetPath: `${victim}/mount`,
      sourceDir: `${w.dir}/state/mounts/${await volumeFolder("v-target")}`,
    });
    assertEquals(await w.volumes.restore(), 0);
    assertEquals(Deno.readTextFileSync(`${victim}/keep`), "data");
    assertEquals([...Deno.readDirSync(states)], [], "the untrusted state files are dropped");
  });
});
