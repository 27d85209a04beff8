/** What delivering the injector costs a Pod, on the real single-node cluster of the end-to-end
 * tests (kubelet, containerd, the product installed by its chart): for each delivery
 * (`imageVolume`, then `copy`), Pods that resolve one template alternate with plain Pods of
 * the same image and command, and each is timed from its creation to the app's first
 * instruction. The app prints /proc/uptime first thing; the host reads /proc/uptime right
 * before creating the Pod: one kernel, one clock, 10 ms steps. Also the node disk each Pod's
 * injector takes (the copy's emptyDir; an image volume is the image's one shared snapshot).
 *
 * Run as root, after scripts/peers/install.sh: deno run -A scripts/bench/delivery.ts [rounds]
 * (no other end-to-end run at the same time: the cluster is machine-wide). */
import { PULL_SECRET, startCluster } from "../../tests/e2e/cluster.ts";
import { pushAlpineStandIn } from "../../tests/e2e/images.ts";
import { installProduct, setDelivery } from "../../tests/e2e/install.ts";
import { Pods } from "../../tests/e2e/kube_pods.ts";
import { GUIDE } from "../../tests/harness/store_setup.ts";

const rounds = Number(Deno.args[0] ?? 8);
// Short: the kubelet's registration socket path under it must stay within 107 bytes.
const base = await Deno.makeTempDir({ prefix: "bd-" });
const cluster = await startCluster(`${base}/cluster`);
try {
  await installProduct(cluster, base);
  const ns = GUIDE.namespace;
  await cluster.pullSecret(ns);
  await cluster.patch(`/api/v1/namespaces/${ns}/serviceaccounts/${GUIDE.serviceAccount}`, {
    imagePullSecrets: [{ name: PULL_SECRET }],
  });
  const image = await pushAlpineStandIn(cluster.registry, base);
  const pods = new Pods(cluster, ns);
  let n = 0;

  /** Seconds from creation to the app's first instruction, and the injector's disk. */
  const run = async (kind: "plain" | "empty" | "template") => {
    const injected = kind !== "plain";
    const name = `bench-${++n}`;
    const t0 = uptime();
    const created = await pods.create({
      metadata: {
        name,
        namespace: ns,
        annotations: injected ? { "secrets-store.deckhouse.io/role": GUIDE.role } : {},
      },
      spec: {
        serviceAccountName: GUIDE.serviceAccount,
        hostNetwork: true,
        terminationGracePeriodSeconds: 0,
        containers: [{
          name: "app",
          image,
          command: ["sh", "-c", "cat /proc/uptime; sleep 3600"],
          // "empty": the injector starts, finds nothing to resolve and execs the app at once.
          env: kind === "template"
            ? [{ name: "DB_PASS", value: "secrets-store:demo-kv/data/myapp-secret#DB_PASS" }]
            : [],
        }],
      },
    });
    // The injector's own log line comes first; the app's is the uptime.
    const first = /^(\d+\.\d+) \d+\.\d+$/m;
    const log = await pods.waitForLog(name, (l) => first.test(l), 120_000);
    const started = Number(log.match(first)![1]);
    const disk = await du(
      `${cluster.kubeletDir}/pods/${created.metadata.uid}/volumes/kubernetes.io~empty-dir/secrets-store-injector`,
    );
    await pods.cleanUp();
    return { seconds: started - t0, diskMiB: disk };
  };

  for (const delivery of ["imageVolume", "copy"] as const) {
    await setDelivery(cluster, base, delivery);
    await run("template"); // the first Pod of a delivery also pulls the image: not counted
    const t = { plain: [] as number[], empty: [] as number[], template: [] as number[] };
    const disk: number[] = [];
    for (let i = 0; i < rounds; i++) {
      t.plain.push((await run("plain")).seconds);
      t.empty.push((await run("empty")).seconds);
      const r = await run("template");
      t.template.push(r.seconds);
      disk.push(r.diskMiB);
    }
    const [p, e, j] = [median(t.plain), median(t.empty), median(t.template)];
    const range = (xs: number[]) => `${ms(Math.min(...xs))}-${ms(Math.max(...xs))}`;
    console.log(
      `${delivery}: to the app's first instruction, medians of ${rounds}: plain ${ms(p)} ` +
        `(${range(t.plain)}), injector with nothing to resolve ${ms(e)} (${range(t.empty)}), ` +
        `with one template ${ms(j)} (${range(t.template)}); delivery and the injector's start ` +
        `add ${ms(e - p)}, the store login and read ${ms(j - e)}; ` +
        `injector disk per Pod ${median(disk).toFixed(1)} MiB`,
    );
  }
} finally {
  await cluster.stop();
  await Deno.remove(base, { recursive: true }).catch(() => {});
}

function uptime(): number {
  return Number(Deno.readTextFileSync("/proc/uptime").split(" ")[0]);
}

/** MiB under `dir`; 0 when it does not exist (no emptyDir: an image volume). */
async function du(dir: string): Promise<number> {
  const out = await new Deno.Command("du", { args: ["-sk", dir], stdout: "piped", stderr: "null" })
    .output();
  if (!out.success) return 0;
  return Number(new TextDecoder().decode(out.stdout).split("\t")[0]) / 1024;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function ms(seconds: number): string {
  return `${Math.round(seconds * 1000)} ms`;
}
