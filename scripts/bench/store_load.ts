/** The store-load model of docs/store-load.md.
 *
 *   deno run -A scripts/bench/store_load.ts model
 *     prints the cluster table (requests per minute and live tokens, design by design)
 *   deno run -A scripts/bench/store_load.ts run dist/secrets-store
 *     starts its own OpenBao and kube-apiserver, makes the store-load run (50 injector runs,
 *     20 CSI volumes over 5 identities for 3 rotation periods; as root, the driver mounts) and
 *     prints predicted and measured requests side by side, from OpenBao's audit log. */
import { startKube } from "../../tests/harness/kube.ts";
import { startOpenBao } from "../../tests/harness/openbao.ts";
import { prepareGuideStore } from "../../tests/harness/store_setup.ts";
import { runStoreLoad } from "../../tests/harness/store_load.ts";
import { type Cluster, clusterLoad, total } from "../../tests/harness/store_load_model.ts";

/** Issue 24's cluster: 1,000 nodes of 30 injected Pods, a fifth with an exec probe every 10 s,
 * three paths on one mount, the guide's 10m TTL; one start per Pod a day; CSI: 30 volumes of
 * 10 identities per node, rotation every 2 minutes. */
export const EXAMPLE: Cluster = {
  nodes: 1000,
  podsPerNode: 30,
  probeShare: 0.2,
  probePeriodS: 10,
  startsPerPodPerDay: 1,
  paths: 3,
  mounts: 1,
  ttlS: 600,
  runS: 0.2,
  pollS: 120,
  csiVolumesPerNode: 30,
  csiIdentitiesPerNode: 10,
  rotationS: 120,
};

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

function modelTable(c: Cluster): string {
  const lines = [
    "| design | logins/min | reads/min | renewals/min | revokes/min | requests/min | live tokens |",
    "|---|---:|---:|---:|---:|---:|---:|",
  ];
  for (const l of clusterLoad(c)) {
    const r = l.perMinute;
    lines.push(
      `| ${l.design} | ${fmt(r.login)} | ${fmt(r.read)} | ${fmt(r.renew)} | ${fmt(r.revoke)} | ${
        fmt(total(r))
      } | ${fmt(l.liveTokens)} |`,
    );
  }
  return lines.join("\n");
}

async function run(binary: string): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "bench-store-load-" });
  const [bao, kube] = await Promise.all([startOpenBao(dir), startKube(dir)]);
  try {
    await prepareGuideStore(bao, kube);
    const started = performance.now();
    const r = await runStoreLoad({ bao, kube, binary: await Deno.realPath(binary), dir });
    console.log("| part | operation | predicted | measured |\n|---|---|---:|---:|");
    for (const row of r.rows) {
      console.log(`| ${row.part} | ${row.operation} | ${row.predicted} | ${row.measured} |`);
    }
    console.log(
      `\nsweeps (identities each saw): ${
        r.sweeps.join(", ")
      }; live tokens of the run at the end: ${r.liveTokens}; ${
        Math.round((performance.now() - started) / 1000)
      } s`,
    );
    if (r.rows.some((x) => x.measured !== x.predicted) || r.liveTokens) Deno.exitCode = 1;
  } finally {
    await Promise.all([bao.stop(), kube.stop()]);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  const [mode, binary] = Deno.args;
  if (mode === "model") console.log(modelTable(EXAMPLE));
  else if (mode === "run" && binary) await run(binary);
  else {
    console.error("usage: store_load.ts model | run <compiled secrets-store>");
    Deno.exitCode = 2;
  }
}
