/** Benchmark of `csi serve`: NodePublishVolume latency for 1 and 10 files, and one rotation
 * sweep over 500 volumes (50 identities, 10 volumes each, 10 files per volume): wall time,
 * store reads and logins per sweep, and the driver's resident memory.
 * Run as root: deno run -A scripts/bench/csi.ts   (needs scripts/peers/install.sh) */
import { parse } from "yaml";
import { unmount } from "../../lib/csi/mount.ts";
import {
  createPod,
  csiClient,
  kubeletContext,
  podToken,
  startCsi,
} from "../../tests/harness/csi.ts";
import { startKube } from "../../tests/harness/kube.ts";
import { startOpenBao } from "../../tests/harness/openbao.ts";
import { ROOT, waitUntil } from "../../tests/harness/process.ts";
import { baoApi, GUIDE, prepareGuideStore } from "../../tests/harness/store_setup.ts";

const IDENTITIES = 50;
const VOLUMES_PER_IDENTITY = 10;
const FILES = 10;
const dir = await Deno.makeTempDir({ prefix: "bench-csi-" });
const [bao, kube] = await Promise.all([startOpenBao(dir), startKube(dir)]);
const NS = GUIDE.namespace;
try {
  await prepareGuideStore(bao, kube);
  const api = baoApi(bao);
  for (let i = 0; i < FILES; i++) {
    await api("PUT", `demo-kv/data/bench/f${i}`, { data: { V: `value-${i}` } });
  }
  await api("PUT", "sys/policies/acl/bench", {
    policy: 'path "demo-kv/data/bench/*" { capabilities = ["read"] }',
  });
  const accounts = Array.from({ length: IDENTITIES }, (_, i) => `bench-sa-${i}`);
  await api("PUT", "auth/kubernetes_local/role/bench", {
    bound_service_account_names: accounts.join(","),
    bound_service_account_namespaces: NS,
    policies: "bench",
    ttl: "1h",
  });
  for (const sa of accounts) {
    await kube.api("POST", `/api/v1/namespaces/${NS}/serviceaccounts`, { metadata: { name: sa } });
  }
  const crd = parse(
    await Deno.readTextFile(
      `${ROOT}/deploy/helm/secrets-store/crds/secretsstoreimports.deckhouse.io.yaml`,
    ),
  );
  await kube.api("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd);
  await waitUntil("CRD", async () => {
    const r = await kube.api<{ status?: { conditions?: Array<{ type: string; status: string }> } }>(
      "GET",
      "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/secretsstoreimports.deckhouse.io",
    );
    return !!r.status?.conditions?.some((c) => c.type === "Established" && c.status === "True");
  }, 20_000);
  for (const [name, n] of [["bench-1", 1], ["bench-10", FILES]] as const) {
    await kube.api("POST", `/apis/deckhouse.io/v1alpha1/namespaces/${NS}/secretsstoreimports`, {
      apiVersion: "deckhouse.io/v1alpha1",
      kind: "SecretsStoreImport",
      metadata: { name, namespace: NS },
      spec: {
        type: "CSI",
        role: "bench",
        files: Array.from(
          { length: n },
          (_, i) => ({ name: `f${i}`, source: { path: `demo-kv/data/bench/f${i}`, key: "V" } }),
        ),
      },
    });
  }
  const driver = await startCsi({
    dir: `${dir}/csi`,
    kube: { url: kube.url, caFile: kube.caFile, token: kube.adminToken },
    settings: [
      "connectionConfiguration: Manual",
      "connection:",
      `  url: ${bao.address}`,
      "  caCert: |",
      ...bao.caCert.trim().split("\n").map((l) => `    ${l}`),
    ].join("\n"),
    rotationInterval: "4s",
  });
  const client = csiClient(driver.socket);
  let v = 0;
  const published: Array<{ volumeId: string; targetPath: string }> = [];
  // The driver checks each token's claims against its Pod, so every volume is a real Pod
  // with a token bound to it, as the kubelet would hand over.
  const publish = async (ssi: string, identity: number) => {
    const pod = await createPod(kube, NS, `bench-${v++}`, accounts[identity]!);
    const jwt = await podToken(kube, pod);
    const volume = {
      volumeId: `csi-${pod.uid}`,
      targetPath: `${dir}/csi/pods/${pod.uid}/volumes/kubernetes.io~csi/secrets/mount`,
    };
    published.push(volume);
    const t = performance.now();
    await client.call("Node", "NodePublishVolume", {
      ...volume,
      volumeCapability: { mount: {}, accessMode: { mode: "SINGLE_NODE_READER_ONLY" } },
      readonly: true,
      volumeContext: kubeletContext(ssi, pod, { "": jwt }),
    });
    return performance.now() - t;
  };
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!.toFixed(1);
  const one: number[] = [];
  const ten: number[] = [];
  // Publish latency: every new volume pays one login, with its own token (the driver proves a
  // token before it shares the identity's login with it).
  for (let i = 0; i < IDENTITIES; i++) {
    for (let j = 0; j < VOLUMES_PER_IDENTITY; j++) {
      (j === 0 ? ten : ten).push(await publish("bench-10", i));
    }
  }
  for (let i = 0; i < 20; i++) one.push(await publish("bench-1", i));
  const sweepsBefore = (await Deno.readTextFile(driver.logFile)).split("\n").filter((l) =>
    l.includes(" rotation ")
  ).length;
  // Change every secret so the next sweeps rewrite files, as a busy store would.
  for (let i = 0; i < FILES; i++) {
    await api("PUT", `demo-kv/data/bench/f${i}`, { data: { V: `value-${i}-new` } });
  }
  await waitUntil(
    "two sweeps",
    async () =>
      (await Deno.readTextFile(driver.logFile)).split("\n").filter((l) => l.includes(" rotation "))
        .length >= sweepsBefore + 2,
    60_000,
  );
  const sweeps = (await Deno.readTextFile(driver.logFile)).split("\n").filter((l) =>
    l.includes(" rotation ")
  ).slice(sweepsBefore);
  const pid = new TextDecoder().decode(
    new Deno.Command("pgrep", { args: ["-f", `csi serve.*${dir}/csi`], stdout: "piped" })
      .outputSync().stdout,
  ).trim().split("\n")[0];
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const mib = (field: string) => Number(status.match(new RegExp(`${field}:\\s+(\\d+)`))![1]) / 1024;
  const rss = mib("VmRSS");
  console.log(
    `deno ${Deno.version.deno}, ${navigator.hardwareConcurrency} cores, ` +
      `DENO_V8_FLAGS=${Deno.env.get("DENO_V8_FLAGS") ?? "(none)"}`,
  );
  console.log(
    `NodePublishVolume p50: 1 file ${median(one)} ms, 10 files ${
      median(ten)
    } ms (${one.length} and ${ten.length} calls)`,
  );
  console.log(
    "rotation sweeps after changing all 10 secrets (volumes, identities, reads, logins, changed files, ms):",
  );
  for (const s of sweeps) console.log("  " + s.replace(/^.*rotation component=csi /, ""));
  console.log(
    `driver resident memory: ${rss.toFixed(0)} MiB (anonymous ${mib("RssAnon").toFixed(0)}, ` +
      `file-backed ${mib("RssFile").toFixed(0)}; peak ${mib("VmHWM").toFixed(0)})`,
  );
  // Unpublish everything so no mount is left behind.
  for (const volume of published) await client.call("Node", "NodeUnpublishVolume", volume);
  client.close();
  await driver.stop();
} finally {
  // Whatever happened, leave no mount behind.
  for (const line of (await Deno.readTextFile("/proc/self/mountinfo")).split("\n").reverse()) {
    const point = line.split(" ")[4];
    if (point?.startsWith(dir)) unmount(point);
  }
  await Promise.all([bao.stop(), kube.stop()]);
  await Deno.remove(dir, { recursive: true }).catch((e) => console.error(`cleanup: ${e.message}`));
}
