/** Smoke test of the end-to-end cluster: the node becomes Ready, a Pod runs a locally built
 * busybox image pulled from the test registry with an imagePullSecret, its log is read through
 * the API (apiserver -> kubelet), and deleting it leaves nothing mounted. Then what the product
 * needs from a real cluster: the `kubernetes` Service's ClusterIP from a hostNetwork pod (in-cluster
 * config), a Service in front of a hostNetwork pod reached from the host through kube-proxy (as
 * the apiserver calls a webhook), Bidirectional mount propagation under the kubelet's root dir
 * (as the CSI driver mounts), and stop() with all of that running leaves nothing behind.
 * Run as root: `deno test -A tests/e2e/smoke_test.ts` after scripts/peers/build-kube.sh and
 * scripts/peers/build-node.sh. E2E_KEEP_LOGS=<dir> copies the components' logs there. */
import {
  clusterUnavailable,
  KUBERNETES_SERVICE_IP,
  NODE_INTERFACE,
  PULL_SECRET,
  startCluster,
} from "./cluster.ts";
import { assertStringIncludes } from "../harness/assert.ts";
import { waitUntil } from "../harness/process.ts";

/** Not root, binaries not built, no nft: the tests are ignored, with the reason printed. */
const unavailable = clusterUnavailable();
if (unavailable) console.log(`tests/e2e/smoke_test.ts ignored: ${unavailable}`);

function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

interface PodObj {
  metadata: { uid: string };
  status?: {
    phase?: string;
    hostIP?: string;
    podIP?: string;
    conditions?: { type: string; status: string }[];
  };
}

interface EndpointSliceList {
  items: {
    endpoints?: { addresses: string[]; conditions?: { ready?: boolean } }[];
    ports?: { port?: number; protocol?: string }[];
  }[];
}

/** Mount points (with their filesystem type) in this process's mount namespace. */
function mountinfo(): { point: string; fstype: string; source: string }[] {
  return Deno.readTextFileSync("/proc/self/mountinfo").split("\n").filter(Boolean).map((l) => {
    const [pre = "", post = ""] = l.split(" - ");
    const [fstype = "", source = ""] = post.split(" ");
    return { point: pre.split(" ")[4] ?? "", fstype, source };
  });
}

async function nftTables(): Promise<string> {
  const out = await new Deno.Command("nft", { args: ["list", "tables"], stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout);
}

Deno.test({
  name: "e2e cluster: node Ready, pod runs, log through the API, pod deleted leaves no mounts",
  ignore: unavailable !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "e2e-cluster-" });
    const t0 = Date.now();
    const c = await startCluster(base);
    let ok = false;
    try {
      console.log(
        `node Ready after ${c.readyAfterMs} ms, kube-proxy synced after ${c.proxyReadyAfterMs} ms`,
      );
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
  name: "e2e cluster: in-cluster API via 10.0.0.1, Service to a hostNetwork pod, Bidirectional " +
    "mount propagation; stop() with pods running leaves nothing behind",
  ignore: unavailable !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const base = await Deno.makeTempDir({ prefix: "e2e-cluster-" });
    const c = await startCluster(base);
    console.log(
      `node Ready after ${c.readyAfterMs} ms, kube-proxy synced after ${c.proxyReadyAfterMs} ms`,
    );
    let ok = false;
    let cgroupsBefore: string[] = [];
    const ns = "/api/v1/namespaces/default";
    const propagated = `${c.kubeletDir}/e2e-propagation`;
    try {
      assert(c.url.startsWith(`https://${c.nodeIP}:`), `url ${c.url}`);
      const kubeconfig = JSON.parse(await Deno.readTextFile(c.kubeconfig));
      assert(kubeconfig.clusters[0].cluster.server === c.url, "admin kubeconfig server");
      await c.pullSecret("default");
      // The controller-manager's root CA publisher.
      await waitUntil("kube-root-ca.crt", async () => {
        const cm = await c.api<{ data?: Record<string, string> }>(
          "GET",
          `${ns}/configmaps/kube-root-ca.crt`,
          undefined,
          [404],
        );
        return cm.data?.["ca.crt"] === c.caCert;
      }, 30_000);

      // All pods at once (they start in parallel). The echo server's port on the node IP:
      const echoPort = (() => {
        const l = Deno.listen({ hostname: c.nodeIP, port: 0 });
        l.close();
        return (l.addr as Deno.NetAddr).port;
      })();
      const pod = (name: string, spec: Record<string, unknown>) =>
        c.api("POST", `${ns}/pods`, {
          apiVersion: "v1",
          kind: "Pod",
          metadata: { name, labels: { app: name } },
          spec: {
            hostNetwork: true,
            imagePullSecrets: [{ name: PULL_SECRET }],
            terminationGracePeriodSeconds: 1,
            ...spec,
          },
        });
      // (a) The ServiceAccount files, then the injected in-cluster address
      // (KUBERNETES_SERVICE_HOST/PORT = the `kubernetes` ClusterIP). busybox cannot speak TLS to
      // the apiserver (wget: "TLS error from peer (alert code 40): handshake failure"; its nc has
      // no -z; wget -T segfaults): a plain HTTP request gets Go's answer for HTTP on a TLS port.
      // The host checks TLS (the serving cert for 10.0.0.1) below: same network namespace.
      await pod("sleeper", {
        containers: [{
          name: "sleeper",
          image: c.busyboxImage,
          command: [
            "sh",
            "-c",
            "d=/var/run/secrets/kubernetes.io/serviceaccount; echo ns=$(cat $d/namespace); " +
            "head -c 27 $d/ca.crt; echo; echo token=$(head -c 3 $d/token); " +
            "echo api=$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT; " +
            "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | " +
            "nc -w 3 $KUBERNETES_SERVICE_HOST $KUBERNETES_SERVICE_PORT; echo nc=$?; " +
            "trap 'exit 0' TERM; sleep 3600 & wait",
          ],
        }],
      });
      // (b) An HTTP server on the node IP (its hostIP, from the downward API), behind Service echo.
      await pod("echo", {
        containers: [{
          name: "echo",
          image: c.busyboxImage,
          env: [{ name: "HOST_IP", valueFrom: { fieldRef: { fieldPath: "status.hostIP" } } }],
          command: [
            "sh",
            "-c",
            "mkdir -p /tmp/www && echo hi-from-$HOST_IP > /tmp/www/index.html && " +
            `trap 'exit 0' TERM; httpd -f -p $HOST_IP:${echoPort} -h /tmp/www & wait`,
          ],
          readinessProbe: { tcpSocket: { port: echoPort }, periodSeconds: 1 },
        }],
      });
      // (c) What the CSI driver does: the kubelet's root dir at the same path, Bidirectional,
      // and a tmpfs mounted below it from inside the container.
      await pod("propagator", {
        containers: [{
          name: "propagator",
          image: c.busyboxImage,
          securityContext: { privileged: true },
          volumeMounts: [{
            name: "kubelet",
            mountPath: c.kubeletDir,
            mountPropagation: "Bidirectional",
          }],
          command: [
            "sh",
            "-c",
            `mkdir -p ${propagated} && mount -t tmpfs -o size=1m e2e-propagation ${propagated} && ` +
            `echo from-the-pod > ${propagated}/hello && trap 'exit 0' TERM; sleep 3600 & wait`,
          ],
        }],
        volumes: [{ name: "kubelet", hostPath: { path: c.kubeletDir, type: "Directory" } }],
      });
      const svc = await c.api<{ spec: { clusterIP: string } }>("POST", `${ns}/services`, {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "echo" },
        spec: {
          selector: { app: "echo" },
          ports: [{ port: 443, targetPort: echoPort, protocol: "TCP" }],
        },
      });

      const tPods = Date.now();
      for (const name of ["sleeper", "echo", "propagator"]) {
        await waitUntil(`pod ${name} Running`, async () => {
          const p = await c.api<PodObj>("GET", `${ns}/pods/${name}`);
          if (p.status?.phase === "Failed") throw new Error(`${name}: ${JSON.stringify(p.status)}`);
          return p.status?.phase === "Running";
        }, 60_000);
      }
      console.log(`3 pods Running ${Date.now() - tPods} ms after creation`);

      // --- (a) in-cluster config: pod -> 10.0.0.1:443 -> apiserver at nodeIP:port.
      let log = "";
      await waitUntil("sleeper's log", async () => {
        log = String(await c.api<unknown>("GET", `${ns}/pods/sleeper/log`));
        return log.includes("nc=");
      }, 20_000);
      assertStringIncludes(log, "ns=default", `log: ${log}`);
      assertStringIncludes(log, "-----BEGIN CERTIFICATE-----", `log: ${log}`);
      assertStringIncludes(log, "token=eyJ", `a JWT is mounted: ${log}`);
      assertStringIncludes(log, `api=${KUBERNETES_SERVICE_IP}:443`, `in-cluster address: ${log}`);
      assert(
        log.includes("Client sent an HTTP request to an HTTPS server") && log.includes("nc=0"),
        `the apiserver through ${KUBERNETES_SERVICE_IP}:443: ${log}`,
      );
      assert(
        c.mounts().some((m) => m.includes("kube-api-access")),
        "projected token volume mounted",
      );
      // The host too, with the serving cert checked for the ClusterIP (what client-go does).
      const viaClusterIP = Deno.createHttpClient({ caCerts: [c.caCert] });
      try {
        const r = await fetch(`https://${KUBERNETES_SERVICE_IP}/readyz`, {
          client: viaClusterIP,
          headers: { authorization: `Bearer ${c.adminToken}` },
        });
        const body = await r.text();
        assert(r.ok && body === "ok", `https://${KUBERNETES_SERVICE_IP}/readyz: ${body}`);
      } finally {
        viaClusterIP.close();
      }

      // --- (b) Service -> hostNetwork pod: EndpointSlice address = node IP, ClusterIP from host.
      const tSvc = Date.now();
      let slices: EndpointSliceList = { items: [] };
      await waitUntil("echo's EndpointSlice ready", async () => {
        slices = await c.api<EndpointSliceList>(
          "GET",
          "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices" +
            "?labelSelector=kubernetes.io%2Fservice-name%3Decho",
        );
        return slices.items.some((s) => s.endpoints?.some((e) => e.conditions?.ready));
      }, 30_000).catch((e) => {
        throw new Error(`${e.message}\n${JSON.stringify(slices)}`);
      });
      const addrs = slices.items.flatMap((s) => s.endpoints ?? []).flatMap((e) => e.addresses);
      const ports = slices.items.flatMap((s) => s.ports ?? []).map((p) => p.port);
      assert(
        addrs.length === 1 && addrs[0] === c.nodeIP && ports[0] === echoPort,
        `EndpointSlice: ${JSON.stringify(slices.items)}`,
      );
      const echo = await c.api<PodObj>("GET", `${ns}/pods/echo`);
      assert(
        echo.status?.hostIP === c.nodeIP && echo.status?.podIP === c.nodeIP,
        `echo hostIP/podIP: ${JSON.stringify(echo.status)}`,
      );
      let answer = "";
      await waitUntil(`http://${svc.spec.clusterIP}:443 (Service echo)`, async () => {
        const r = await fetch(`http://${svc.spec.clusterIP}:443/`, {
          signal: AbortSignal.timeout(2000),
        });
        answer = await r.text();
        return r.ok;
      }, 15_000);
      assert(answer === `hi-from-${c.nodeIP}\n`, `answer through the ClusterIP: ${answer}`);
      console.log(
        `Service ${svc.spec.clusterIP}:443 -> ${c.nodeIP}:${echoPort} answered ` +
          `${Date.now() - tSvc} ms after the pods ran`,
      );

      // --- (c) the pod's tmpfs is visible on the host.
      await waitUntil("propagated tmpfs on the host", () => {
        const m = mountinfo().find((m) => m.point === propagated);
        return Promise.resolve(m?.fstype === "tmpfs" && m.source === "e2e-propagation");
      }, 20_000);
      const hello = await Deno.readTextFile(`${propagated}/hello`);
      assert(hello === "from-the-pod\n", `file in the propagated tmpfs: ${hello}`);

      assertStringIncludes(await nftTables(), "table ip kube-proxy", "kube-proxy's nftables table");
      cgroupsBefore = [...Deno.readDirSync("/sys/fs/cgroup/memory")].map((e) => e.name);
      ok = true;
    } finally {
      const tStop = Date.now();
      await c.stop({
        keepLogsIn: Deno.env.get("E2E_KEEP_LOGS") || (ok ? undefined : `${base}.logs`),
      });
      console.log(`stop took ${Date.now() - tStop} ms`);
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
    let iface = true;
    try {
      Deno.statSync(`/sys/class/net/${NODE_INTERFACE}`);
    } catch {
      iface = false;
    }
    assert(!iface, `${NODE_INTERFACE} left after stop`);
    const tables = await nftTables();
    assert(!tables.includes("kube-proxy"), `nftables tables left: ${tables}`);
  },
});
