/** Smoke test of the end-to-end cluster: the node becomes Ready, a Pod runs a locally built
 * busybox image pulled from the test registry with an imagePullSecret, its log is read through
 * the API (apiserver -> kubelet), and deleting it leaves nothing mounted.
 * Run as root: `deno test -A tests/e2e/smoke_test.ts` after scripts/peers/build-kube.sh and
 * scripts/peers/build-node.sh. E2E_KEEP_LOGS=<dir> copies the components' logs there. */
import { PULL_SECRET, startCluster } from "./cluster.ts";
import { waitUntil } from "../harness/process.ts";

function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

interface PodObj {
  metadata: { uid: string };
  status?: { phase?: string; hostIP?: string };
}

Deno.test({
  name: "e2e cluster: node Ready, pod runs, log through the API, pod deleted leaves no mounts",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "e2e-cluster-" });
    const t0 = Date.now();
    const c = await startCluster(base);
    let ok = false;
    try {
      console.log(`node Ready after ${c.readyAfterMs} ms`);
      const ns = "smoke";
      await c.api("POST", "/api/v1/namespaces", {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: ns },
      });
      await c.pullSecret(ns);
      await waitUntil("default ServiceAccount in smoke", async () => {
        const sa = await c.api<{ kind?: string }>(
          "GET",
          `/api/v1/namespaces/${ns}/serviceaccounts/default`,
          undefined,
          [404],
        );
        return sa.kind === "ServiceAccount";
      }, 30_000);

      const tPod = Date.now();
      const pod = await c.api<PodObj>("POST", `/api/v1/namespaces/${ns}/pods`, {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "hello" },
        spec: {
          hostNetwork: true,
          restartPolicy: "Never",
          imagePullSecrets: [{ name: PULL_SECRET }],
          containers: [{
            name: "hello",
            image: c.busyboxImage,
            command: ["sh", "-c", "echo hello-e2e; sleep 1"],
          }],
        },
      });
      const podPath = `/api/v1/namespaces/${ns}/pods/hello`;
      let phase = "";
      await waitUntil(
        "pod Succeeded",
        async () => {
          const p = await c.api<PodObj>("GET", podPath);
          phase = p.status?.phase ?? "";
          if (phase === "Failed") throw new Error(`pod failed: ${JSON.stringify(p.status)}`);
          return phase === "Succeeded";
        },
        120_000,
        c.logFiles.find((f) => f.endsWith("kubelet.log")),
      );
      console.log(`pod Succeeded ${Date.now() - tPod} ms after creation`);

      const log = await c.api<unknown>("GET", `${podPath}/log`);
      assert(
        typeof log === "string" && log.includes("hello-e2e"),
        `pod log: ${JSON.stringify(log)}`,
      );

      const uid = pod.metadata.uid;
      const podDir = `${c.dir}/kubelet/pods/${uid}`;
      await c.api("DELETE", podPath, {
        apiVersion: "v1",
        kind: "DeleteOptions",
        gracePeriodSeconds: 1,
      });
      await waitUntil("pod gone from the API", async () => {
        const p = await c.api<{ kind?: string }>("GET", podPath, undefined, [404]);
        return p.kind !== "Pod";
      }, 60_000);
      // The kubelet removes the pod's folder in housekeeping (every 2 s) after the API object.
      await waitUntil("pod's mounts and folder gone", async () => {
        const mine = c.mounts().filter((m) => m.includes(uid));
        if (mine.length) return false;
        try {
          await Deno.stat(podDir);
          return false;
        } catch {
          return true;
        }
      }, 30_000);
      // No task (process) of the pod may be left; the exited containers' records go with the
      // kubelet's container GC (every minute), which this test does not wait for.
      let tasks = "";
      await waitUntil("the pod's tasks gone", async () => {
        tasks = (await c.ctr(["tasks", "ls"])).trim();
        return tasks.split("\n").slice(1).filter((l) => /\bRUNNING\b|\bPAUSED\b/.test(l)).length ===
          0;
      }, 30_000).catch((e) => {
        throw new Error(`${e.message}\n${tasks}`);
      });
      console.log(
        `after delete: tasks\n${tasks}\ncontainers\n${(await c.ctr(["containers", "ls"])).trim()}`,
      );
      ok = true;
    } finally {
      const tStop = Date.now();
      await c.stop({
        keepLogsIn: Deno.env.get("E2E_KEEP_LOGS") || (ok ? undefined : `${base}.logs`),
      });
      console.log(`stop took ${Date.now() - tStop} ms; whole test ${Date.now() - t0} ms`);
      if (!ok) console.log(`logs kept in ${Deno.env.get("E2E_KEEP_LOGS") || base + ".logs"}`);
    }
    const left = Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
      .filter((l) => l.includes(base));
    assert(left.length === 0, `mounts left after stop: ${left.join("\n")}`);
    let exists = true;
    try {
      await Deno.stat(base);
    } catch {
      exists = false;
    }
    assert(!exists, `${base} still exists after stop`);
  },
});

Deno.test({
  name:
    "e2e cluster: ServiceAccount token mounted, stop() with a running pod leaves nothing behind",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "e2e-cluster-" });
    const c = await startCluster(base);
    let ok = false;
    let cgroupsBefore: string[] = [];
    try {
      await c.pullSecret("default");
      // The controller-manager's root CA publisher.
      await waitUntil("kube-root-ca.crt", async () => {
        const cm = await c.api<{ data?: Record<string, string> }>(
          "GET",
          "/api/v1/namespaces/default/configmaps/kube-root-ca.crt",
          undefined,
          [404],
        );
        return cm.data?.["ca.crt"] === c.caCert;
      }, 30_000);
      await c.api("POST", "/api/v1/namespaces/default/pods", {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { name: "sleeper" },
        spec: {
          hostNetwork: true,
          imagePullSecrets: [{ name: PULL_SECRET }],
          terminationGracePeriodSeconds: 1,
          containers: [{
            name: "sleeper",
            image: c.busyboxImage,
            command: [
              "sh",
              "-c",
              "d=/var/run/secrets/kubernetes.io/serviceaccount; echo ns=$(cat $d/namespace); " +
              "head -c 27 $d/ca.crt; echo; echo token=$(head -c 3 $d/token); exec sleep 3600",
            ],
          }],
        },
      });
      const podPath = "/api/v1/namespaces/default/pods/sleeper";
      await waitUntil("pod Running", async () => {
        const p = await c.api<PodObj>("GET", podPath);
        return p.status?.phase === "Running";
      }, 60_000);
      let log = "";
      await waitUntil("pod log", async () => {
        log = String(await c.api<unknown>("GET", `${podPath}/log`));
        return log.includes("token=");
      }, 10_000);
      assert(log.includes("ns=default"), `log: ${log}`);
      assert(log.includes("-----BEGIN CERTIFICATE-----"), `log: ${log}`);
      assert(log.includes("token=eyJ"), `a JWT is mounted: ${log}`);
      assert(
        c.mounts().some((m) => m.includes("kube-api-access")),
        "projected token volume mounted",
      );
      cgroupsBefore = [...Deno.readDirSync("/sys/fs/cgroup/memory")].map((e) => e.name);
      ok = true;
    } finally {
      await c.stop({
        keepLogsIn: Deno.env.get("E2E_KEEP_LOGS") || (ok ? undefined : `${base}.logs`),
      });
    }
    const left = Deno.readTextFileSync("/proc/self/mountinfo").split("\n").filter((l) =>
      l.includes(base)
    );
    assert(left.length === 0, `mounts left after stop: ${left.join("\n")}`);
    const e2eCgroups = cgroupsBefore.filter((n) => n.startsWith("e2e-"));
    const cgroupsAfter = [...Deno.readDirSync("/sys/fs/cgroup/memory")].map((e) => e.name);
    assert(
      e2eCgroups.length > 0 && e2eCgroups.every((n) => !cgroupsAfter.includes(n)),
      `cgroups left: ${e2eCgroups.filter((n) => cgroupsAfter.includes(n))}`,
    );
    const procs = [...Deno.readDirSync("/proc")].filter((e) => /^\d+$/.test(e.name)).filter((e) => {
      try {
        return Deno.readTextFileSync(`/proc/${e.name}/cmdline`).includes(base);
      } catch {
        return false;
      }
    });
    assert(procs.length === 0, `processes left: ${procs.map((p) => p.name)}`);
  },
});
