/** The store-load run of docs/store-load.md: 50 injector runs, then 20 CSI volumes over 5
 * identities for 3 rotation periods, counted in the store's own audit log and set beside
 * what the model (store_load_model.ts) predicts. Shared by tests/store_load_test.ts and
 * scripts/bench/store_load.ts, each with its own servers. Needs root (the CSI driver mounts). */
import { mapBounded } from "../../lib/sys/bounded.ts";
import {
  applySsiCrd,
  createFileSsi,
  createPod,
  csiClient,
  kubeletContext,
  podToken,
  startCsi,
} from "./csi.ts";
import type { KubeApi } from "./kube_api.ts";
import { waitUntil } from "./process.ts";
import { type BaoAdmin, baoApi, enableKubeAuth, liveTokens } from "./store_setup.ts";
import { csiNode, injectorRun, type Requests } from "./store_load_model.ts";

export interface LoadEnv {
  bao: BaoAdmin & { auditLog: string; caFile: string };
  kube: KubeApi & {
    url: string;
    caCert: string;
    caFile: string;
    adminToken: string;
    csiToken: string;
  };
  /** The compiled executable. */
  binary: string;
  /** A folder of its own: the driver's state, mounts and log, the token file. */
  dir: string;
}

export const LOAD = {
  injectorRuns: 50,
  volumes: 20,
  identities: 5,
  sweeps: 3,
  /** Each injector run and each volume reads these two paths, on one mount. */
  paths: 2,
  /** Long enough for the 20 publishes to end before the first sweep. */
  rotation: "5s",
  namespace: "store-load",
} as const;

export interface LoadRow {
  part: string;
  operation: keyof Requests;
  predicted: number;
  measured: number;
}

export interface LoadResult {
  rows: LoadRow[];
  /** Sweeps the driver made, with the identities each saw. */
  sweeps: number[];
  /** Store tokens of the run still live at the end. */
  liveTokens: number;
}

const INJECT_MOUNT = "load-inject-kube";
const CSI_MOUNT = "load-csi-kube";

/** Runs the whole scenario; the driver is stopped and its mounts removed before it returns. */
export async function runStoreLoad(e: LoadEnv): Promise<LoadResult> {
  const ns = LOAD.namespace;
  await prepare(e);
  const audit = auditReader(e.bao.auditLog);

  // 50 injector runs, as container starts: the compiled executable, six at a time.
  const tokenFile = `${e.dir}/inject-token`;
  await Deno.writeTextFile(tokenFile, await e.kube.tokenFor(ns, "load-sa-0"));
  let mark = await audit.mark();
  await mapBounded(Array.from({ length: LOAD.injectorRuns }), 6, async () => {
    const out = await new Deno.Command(e.binary, {
      args: ["inject", "--", "/bin/true"],
      clearEnv: true,
      env: {
        PATH: "/usr/bin:/bin",
        SECRETS_STORE_ADDR: e.bao.address,
        SECRETS_STORE_ROLE: "load-0",
        SECRETS_STORE_AUTH_PATH: INJECT_MOUNT,
        SECRETS_STORE_CA_FILE: e.bao.caFile,
        SECRETS_STORE_TOKEN_FILE: tokenFile,
        A: "secrets-store:demo-kv/data/load-env-a#V",
        B: "secrets-store:demo-kv/data/load-env-b#V",
      },
      stdout: "null",
      stderr: "piped",
    }).output();
    if (out.code !== 0) {
      throw new Error(`injector run failed: ${new TextDecoder().decode(out.stderr)}`);
    }
  });
  const injected = count(await audit.since(mark), INJECT_MOUNT, "load-env-");
  const rows: LoadRow[] = [];
  const predictedRuns = injectorRun({ paths: LOAD.paths, mounts: 1, revoke: true });
  for (const op of OPERATIONS) {
    rows.push({
      part: `injector, ${LOAD.injectorRuns} runs`,
      operation: op,
      predicted: predictedRuns[op] * LOAD.injectorRuns,
      measured: injected[op],
    });
  }

  // 20 volumes over 5 identities, then 3 sweeps that see them all; the driver's stop ends the
  // window (its tokens revoked), and a second driver, which rotates nothing, unpublishes.
  const dir = `${e.dir}/csi`;
  const driverOptions = {
    dir,
    kube: { url: e.kube.url, caFile: e.kube.caFile, token: e.kube.csiToken },
    binary: e.binary,
    settings: [
      "connectionConfiguration: Manual",
      "connection:",
      `  url: ${e.bao.address}`,
      `  authPath: ${CSI_MOUNT}`,
      "  caCert: |",
      ...e.bao.caCert.trim().split("\n").map((l) => `    ${l}`),
    ].join("\n"),
    rotationInterval: LOAD.rotation,
  };
  const pods = await Promise.all(
    Array.from({ length: LOAD.volumes }, async (_, i) => {
      const pod = await createPod(e.kube, ns, `load-${i}`, `load-sa-${i % LOAD.identities}`);
      return { pod, jwt: await podToken(e.kube, pod) };
    }),
  );
  const target = (uid: string) => `${dir}/pods/${uid}/volumes/kubernetes.io~csi/secrets/mount`;
  mark = await audit.mark();
  let driver = await startCsi(driverOptions);
  let client = csiClient(driver.socket);
  let sweeps: number[] = [];
  try {
    // One after another, within the first rotation period: a read that meets a token
    // revoked by a login of the same identity that ended meanwhile is sent again (one more
    // read than the model counts, see docs/store-load.md), and this run counts exactly.
    for (const [i, { pod, jwt }] of pods.entries()) {
      await client.call("Node", "NodePublishVolume", {
        volumeId: `load-${pod.uid}`,
        targetPath: target(pod.uid),
        volumeCapability: { mount: {}, accessMode: { mode: "SINGLE_NODE_READER_ONLY" } },
        readonly: true,
        volumeContext: kubeletContext(`load-ssi-${i % LOAD.identities}`, pod, { "": jwt }),
      });
    }
    await waitUntil(
      `${LOAD.sweeps} sweeps of all ${LOAD.identities} identities`,
      async () => {
        sweeps = sweepsIn(await Deno.readTextFile(driver.logFile));
        return sweeps.filter((i) => i === LOAD.identities).length >= LOAD.sweeps;
      },
      60_000,
      driver.logFile,
    );
    client.close();
    await driver.stop();
    // Every sweep the driver ended; one cut short by the stop would make reads the count
    // misses, and the comparison fails.
    sweeps = sweepsIn(await Deno.readTextFile(driver.logFile));
    const csi = count(await audit.since(mark), CSI_MOUNT, "load-file-");
    const predicted = csiNode({
      volumes: LOAD.volumes,
      identities: LOAD.identities,
      paths: LOAD.paths,
      mounts: 1,
      sweeps,
      ended: true,
    });
    for (const op of OPERATIONS) {
      rows.push({
        part:
          `CSI, ${LOAD.volumes} volumes, ${LOAD.identities} identities, ${sweeps.length} sweeps`,
        operation: op,
        predicted: predicted[op],
        measured: csi[op],
      });
    }
  } finally {
    client.close();
    await driver.stop();
    driver = await startCsi({ ...driverOptions, extraArgs: ["--no-rotation"] });
    client = csiClient(driver.socket);
    try {
      for (const { pod } of pods) {
        await client.call("Node", "NodeUnpublishVolume", {
          volumeId: `load-${pod.uid}`,
          targetPath: target(pod.uid),
        });
      }
    } finally {
      client.close();
      await driver.stop();
    }
  }
  let live = 0;
  for (const mount of [INJECT_MOUNT, CSI_MOUNT]) {
    for (let i = 0; i < LOAD.identities; i++) live += await liveTokens(e.bao, mount, `load-${i}`);
  }
  return { rows, sweeps, liveTokens: live };
}

const OPERATIONS = ["login", "read", "renew", "revoke"] as const;

/** The store, the namespace, its ServiceAccounts and the SecretsStoreImports of the run. */
async function prepare(e: LoadEnv): Promise<void> {
  const api = baoApi(e.bao);
  const ns = LOAD.namespace;
  for (const mount of [INJECT_MOUNT, CSI_MOUNT]) await enableKubeAuth(e.bao, e.kube, mount);
  await api("PUT", "sys/policies/acl/store-load", {
    policy: 'path "demo-kv/data/load-*" { capabilities = ["read"] }\n',
  });
  for (const p of ["load-env-a", "load-env-b", "load-file-a", "load-file-b"]) {
    await api("PUT", `demo-kv/data/${p}`, { data: { V: p } });
  }
  await e.kube.api("POST", "/api/v1/namespaces", { metadata: { name: ns } }, [409]);
  await applySsiCrd(e.kube);
  for (let i = 0; i < LOAD.identities; i++) {
    await e.kube.api("POST", `/api/v1/namespaces/${ns}/serviceaccounts`, {
      metadata: { name: `load-sa-${i}` },
    });
    for (const mount of [INJECT_MOUNT, CSI_MOUNT]) {
      await api("PUT", `auth/${mount}/role/load-${i}`, {
        bound_service_account_names: `load-sa-${i}`,
        bound_service_account_namespaces: ns,
        policies: "store-load",
        ttl: "10m",
      });
    }
    await createFileSsi(
      e.kube,
      ns,
      `load-ssi-${i}`,
      `load-${i}`,
      ["a", "b"].map((f) => ({ name: f, path: `demo-kv/data/load-file-${f}`, key: "V" })),
    );
  }
}

/** Requests in OpenBao's audit log (request entries; paths are not HMAC'd). */
function auditReader(file: string) {
  const entries = async () =>
    (await Deno.readTextFile(file)).trim().split("\n").map((l) => JSON.parse(l))
      .filter((x) => x.type === "request")
      .map((x) => `${x.request.operation} ${x.request.path}` as string);
  return {
    mark: async () => (await entries()).length,
    since: async (mark: number) => (await entries()).slice(mark),
  };
}

/** A part's requests by operation: logins at its auth mount, reads (and engine lookups) of
 * its paths, renewals and revokes. Each part runs alone, so every renew and revoke in its
 * window is its own. */
function count(requests: string[], mount: string, paths: string): Requests {
  const n = (f: (p: string) => boolean) => requests.filter(f).length;
  return {
    login: n((p) => p.endsWith(` auth/${mount}/login`)),
    read: n((p) =>
      p.startsWith(`read demo-kv/data/${paths}`) ||
      p.startsWith(`read sys/internal/ui/mounts/demo-kv/data/${paths}`)
    ),
    renew: n((p) => p.endsWith(" auth/token/renew-self")),
    revoke: n((p) => p.endsWith(" auth/token/revoke-self")),
  };
}

/** The identities each sweep of the driver's log saw, in order. */
function sweepsIn(log: string): number[] {
  return [...log.matchAll(/ rotation component=csi .*?\bidentities=(\d+)/g)].map((m) =>
    Number(m[1])
  );
}
