/** A real single-node Kubernetes for end-to-end tests: etcd, kube-apiserver,
 * kube-controller-manager, kube-scheduler, containerd (+ runc), the kubelet and kube-proxy
 * (nftables mode), all with their state under one folder, and a TLS + htpasswd registry holding
 * locally built busybox images. The node's address is NODE_IP on a port-less bridge
 * (NODE_INTERFACE) that never leaves the machine; kube-proxy makes Service ClusterIPs (the
 * `kubernetes` Service's 10.0.0.1:443 too) reachable from the host and from hostNetwork pods.
 * Binaries: scripts/peers/build-kube.sh and scripts/peers/build-node.sh. Needs root (the kubelet
 * and containerd mount, create cgroups and run containers; the harness creates the interface and
 * kube-proxy programs nftables). One cluster per machine at a time (the interface, kube-proxy's
 * nftables table, the host's /run/containerd/s shim-socket folder and /var/log/containers are
 * shared; a second start while one runs fails). See tests/e2e/NOTES.md. */
import { type KubeApi, kubeApi } from "../harness/kube_api.ts";
import { type Ca, makeCa, makeLeaf } from "../harness/pki.ts";
import {
  freePort,
  peerBinary,
  PEERS_BIN,
  runOk,
  type Server,
  spawnServer,
  waitUntil,
} from "../harness/process.ts";
import { type Registry, startRegistry } from "../harness/registry.ts";
import { PAUSE_SPEC, pushBusyboxImage } from "./images.ts";

export const NODE_NAME = "e2e-node";
/** The node's InternalIP: on NODE_INTERFACE, a bridge with no ports (this kernel has no dummy
 * driver), so traffic to it stays on the machine. Not loopback: the kubelet refuses a loopback
 * --node-ip and Endpoints may not hold loopback addresses (hostNetwork pods' EndpointSlices and
 * the `kubernetes` Service's endpoint carry the node IP). The apiserver and the kubelet listen
 * on it. */
export const NODE_IP = "10.213.0.1";
export const NODE_INTERFACE = "sse2e0";
/** Service ClusterIPs; routed to NODE_INTERFACE so that nothing kube-proxy does not translate
 * leaves the machine. */
export const SERVICE_CIDR = "10.0.0.0/24";
/** ClusterIP of the `kubernetes` Service (first address of SERVICE_CIDR): in-cluster clients
 * get KUBERNETES_SERVICE_HOST=10.0.0.1, KUBERNETES_SERVICE_PORT=443. */
export const KUBERNETES_SERVICE_IP = "10.0.0.1";
/** kube-proxy's --cluster-cidr (traffic from outside it to a ClusterIP is masqueraded). No pod
 * network uses it: every pod here is hostNetwork (the CNI config is loopback only). */
export const CLUSTER_CIDR = "10.214.0.0/16";
/** Name of the dockerconfigjson Secret `pullSecret()` creates in a namespace. */
export const PULL_SECRET = "e2e-registry";

export interface Cluster extends KubeApi {
  dir: string;
  /** `https://NODE_IP:<port>` (the apiserver binds and advertises NODE_IP only). */
  url: string;
  /** The node's InternalIP (NODE_IP): hostNetwork pods' hostIP/podIP and EndpointSlice
   * addresses, kubelet and apiserver address. */
  nodeIP: string;
  /** The kubelet's --root-dir (on a shared mount: Bidirectional mounts below it reach the host). */
  kubeletDir: string;
  /** Admin kubeconfig file (server = url, certificate-authority = caFile, the admin token of
   * group system:masters) for helm and kubectl-like tools. */
  kubeconfig: string;
  caCert: string;
  caFile: string;
  adminToken: string;
  nodeName: string;
  registry: Registry;
  /** `<registry>/e2e/busybox:1`: busybox-static, default command `sh`. */
  busyboxImage: string;
  /** The pod sandbox image containerd was told to use. */
  pauseImage: string;
  /** Milliseconds from startCluster() to the node reporting Ready. */
  readyAfterMs: number;
  /** Milliseconds from startCluster() to kube-proxy's first full sync (Service rules in place). */
  proxyReadyAfterMs: number;
  logFiles: string[];
  /** JSON merge patch (status subresources too: `/api/v1/nodes/N/status`). */
  patch<T = Record<string, unknown>>(path: string, body: unknown): Promise<T>;
  /** Creates the registry's dockerconfigjson Secret (PULL_SECRET) in `namespace`. */
  pullSecret(namespace: string): Promise<void>;
  /** Mount points under the cluster's folder right now (from /proc/self/mountinfo). */
  mounts(): string[];
  /** Runs ctr against this cluster's containerd (namespace k8s.io). */
  ctr(args: string[]): Promise<string>;
  stop(opts?: { keepLogsIn?: string | undefined }): Promise<void>;
}

/** Binaries startCluster() runs from .peers/bin (scripts/peers/build-kube.sh, build-node.sh). */
export const CLUSTER_BINARIES = [
  "etcd",
  "kube-apiserver",
  "kube-controller-manager",
  "kube-scheduler",
  "kubelet",
  "kube-proxy",
  "containerd",
  "containerd-shim-runc-v2",
  "ctr",
  "cni/loopback",
];

/** Why a cluster cannot start on this machine (not root, binaries not built), or null. */
export function clusterUnavailable(): string | null {
  if (Deno.uid() !== 0) return "needs root";
  const missing = CLUSTER_BINARIES.filter((b) => {
    try {
      Deno.statSync(`${PEERS_BIN}/${b}`);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length) {
    return `missing ${
      missing.join(", ")
    } in .peers/bin: run scripts/peers/build-kube.sh and scripts/peers/build-node.sh`;
  }
  if (!sbin("nft")) {
    return "nft is missing: run scripts/peers/build-node.sh (apt-get install nftables)";
  }
  if (!sbin("ip")) return "ip (iproute2) is missing";
  return null;
}

interface Step {
  name: string;
  run(): Promise<void>;
}

/** Starts everything under `dir` (created if missing; removed by stop()); resolves when the
 * node is Ready and the default ServiceAccount exists. */
export async function startCluster(dir: string): Promise<Cluster> {
  const t0 = Date.now();
  const why = clusterUnavailable();
  if (why) throw new Error(`startCluster: ${why}`);
  await Deno.mkdir(dir, { recursive: true });
  dir = await Deno.realPath(dir);
  const runc = Deno.env.get("E2E_RUNC") ||
    (await runOk("sh", ["-c", "command -v runc"]).catch(() => "")).trim();
  if (!runc) {
    throw new Error("runc is missing: run scripts/peers/build-node.sh (apt-get install runc)");
  }

  // Undo list, run in reverse by stop(), also when starting fails half-way.
  const undo: Step[] = [];
  const logFiles: string[] = [];
  const spawn = (name: string, cmd: string, args: string[], env?: Record<string, string>) => {
    const s: Server = spawnServer(name, dir, cmd, args, env);
    logFiles.push(s.logFile);
    undo.push({ name: `stop ${name}`, run: () => s.stop() });
    return s;
  };
  let client: KubeApi | undefined;
  let stopped = false;
  const stop = async (opts: { keepLogsIn?: string | undefined } = {}) => {
    if (stopped) return;
    stopped = true;
    const errors: string[] = [];
    for (const step of undo.reverse()) {
      try {
        await step.run();
      } catch (e) {
        errors.push(`${step.name}: ${e instanceof Error ? e.message : e}`);
      }
    }
    client?.close();
    if (opts.keepLogsIn) {
      await Deno.mkdir(opts.keepLogsIn, { recursive: true });
      for (const f of logFiles) {
        await Deno.copyFile(f, `${opts.keepLogsIn}/${f.split("/").pop()}`).catch(() => {});
      }
    }
    const left = mountsUnder(dir);
    if (left.length) errors.push(`still mounted: ${left.join(", ")}`);
    else await Deno.remove(dir, { recursive: true }).catch((e) => errors.push(`rm ${dir}: ${e}`));
    if (errors.length) throw new Error("cluster stop: " + errors.join("; "));
  };
  // Last step of stop(): nothing of the kubelet's or containerd's may stay mounted.
  undo.push({ name: "unmount", run: () => unmountUnder(dir) });
  // Host paths the components use whatever their configuration says: removed again by stop()
  // when this cluster created them (and they are empty).
  const hostPaths = HOST_PATHS.filter((p) => !exists(p));
  undo.push({ name: "remove host paths", run: () => removeHostPaths(hostPaths) });

  try {
    // --- The node's address (before anything listens on it); removed once everything stopped.
    undo.push({ name: `delete ${NODE_INTERFACE}`, run: () => deleteNodeInterface(dir) });
    await createNodeInterface(dir);

    // --- PKI: one CA for serving certs, client certs and the kubelet's serving cert.
    const pki = `${dir}/pki`;
    await Deno.mkdir(pki, { recursive: true });
    const ca = await makeCa(pki, "kube-ca");
    // In-cluster clients dial KUBERNETES_SERVICE_HOST (the ClusterIP) or kubernetes.default.svc.
    const apiTls = await makeLeaf(pki, "kube-apiserver", ca, [
      `IP:${NODE_IP}`,
      `IP:${KUBERNETES_SERVICE_IP}`,
      "DNS:kubernetes",
      "DNS:kubernetes.default",
      "DNS:kubernetes.default.svc",
      "DNS:kubernetes.default.svc.cluster.local",
    ]);
    const kubeletTls = await makeLeaf(pki, "kubelet-serving", ca, [
      `IP:${NODE_IP}`,
      `DNS:${NODE_NAME}`,
    ]);
    const nodeClient = await makeClient(pki, "kubelet-client", ca, `system:node:${NODE_NAME}`, [
      "system:nodes",
    ]);
    const apiKubeletClient = await makeClient(
      pki,
      "apiserver-kubelet-client",
      ca,
      "kube-apiserver",
      [
        "system:masters",
      ],
    );
    const kcmClient = await makeClient(pki, "kcm", ca, "system:kube-controller-manager", []);
    const schedClient = await makeClient(pki, "scheduler", ca, "system:kube-scheduler", []);
    // Bound to ClusterRole system:node-proxier by the bootstrap ClusterRoleBinding of that name.
    const proxyClient = await makeClient(pki, "kube-proxy", ca, "system:kube-proxy", []);
    await runOk("openssl", ["genrsa", "-out", `${pki}/sa.key`, "2048"]);
    await runOk("openssl", ["rsa", "-in", `${pki}/sa.key`, "-pubout", "-out", `${pki}/sa.pub`]);
    const adminToken = "admin-" + crypto.randomUUID();
    await Deno.writeTextFile(`${pki}/tokens.csv`, `${adminToken},admin,admin,"system:masters"\n`);

    // --- Registry with the busybox and sandbox images (pushed first: containerd needs the
    // sandbox image before the first pod).
    const registry = await startRegistry(dir);
    logFiles.push(registry.logFile);
    undo.push({ name: "stop registry", run: () => registry.stop() });
    const busyboxImage = await pushBusyboxImage(registry, dir, "e2e/busybox", "1");
    const pauseImage = await pushBusyboxImage(registry, dir, "e2e/pause", "1", PAUSE_SPEC);

    // --- etcd + kube-apiserver (stopped apiserver first: see tools/peers/kube/NOTES.md).
    const [etcdPort, peerPort, kubePort] = [freePort(), freePort(), freePortOn(NODE_IP)];
    spawn("etcd", peerBinary("etcd"), [
      "--name=e2e",
      `--data-dir=${dir}/etcd`,
      `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
      `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-cluster=e2e=http://127.0.0.1:${peerPort}`,
      "--unsafe-no-fsync",
      "--log-level=warn",
    ]);
    const url = `https://${NODE_IP}:${kubePort}`;
    const apiserver = spawn("kube-apiserver", peerBinary("kube-apiserver"), [
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      // The `kubernetes` Service's endpoint is the advertised address: 10.0.0.1:443 -> here.
      `--bind-address=${NODE_IP}`,
      `--advertise-address=${NODE_IP}`,
      `--secure-port=${kubePort}`,
      `--cert-dir=${pki}`,
      `--tls-cert-file=${apiTls.certFile}`,
      `--tls-private-key-file=${apiTls.keyFile}`,
      `--client-ca-file=${ca.certFile}`,
      `--token-auth-file=${pki}/tokens.csv`,
      "--authorization-mode=Node,RBAC",
      "--enable-admission-plugins=NodeRestriction",
      `--service-account-issuer=${url}`,
      `--service-account-key-file=${pki}/sa.pub`,
      `--service-account-signing-key-file=${pki}/sa.key`,
      // kube-proxy translates these (the route to NODE_INTERFACE keeps the rest on the machine).
      `--service-cluster-ip-range=${SERVICE_CIDR}`,
      "--allow-privileged=true",
      // apiserver -> kubelet (logs, exec): the kubelet's serving cert is checked against the CA,
      // at the node's InternalIP (NODE_IP, the kubelet's --node-ip).
      `--kubelet-client-certificate=${apiKubeletClient.certFile}`,
      `--kubelet-client-key=${apiKubeletClient.keyFile}`,
      `--kubelet-certificate-authority=${ca.certFile}`,
      "--kubelet-preferred-address-types=InternalIP",
      "--v=1",
    ]);
    client = kubeApi(url, ca.cert, adminToken);
    const api = client.api;
    await waitUntil(
      "kube-apiserver",
      async () => await api<unknown>("GET", "/readyz", undefined, [500, 503]) === "ok",
      90_000,
      apiserver.logFile,
    );

    const kubeconfig = async (
      name: string,
      user: { certFile: string; keyFile: string } | { token: string },
    ) => {
      const file = `${pki}/${name}.kubeconfig`;
      await Deno.writeTextFile(
        file,
        JSON.stringify({
          apiVersion: "v1",
          kind: "Config",
          clusters: [{
            name: "e2e",
            cluster: { server: url, "certificate-authority": ca.certFile },
          }],
          users: [{
            name,
            user: "token" in user
              ? { token: user.token }
              : { "client-certificate": user.certFile, "client-key": user.keyFile },
          }],
          contexts: [{ name: "e2e", context: { cluster: "e2e", user: name } }],
          "current-context": "e2e",
        }),
      );
      return file;
    };
    const adminKubeconfig = await kubeconfig("admin", { token: adminToken });

    // --- kube-controller-manager: ServiceAccounts, their tokens' root CA (kube-root-ca.crt),
    // garbage collection, node lifecycle. --secure-port=0: no serving, nothing to probe.
    const kcmConfig = await kubeconfig("kube-controller-manager", kcmClient);
    const kcm = spawn("kube-controller-manager", peerBinary("kube-controller-manager"), [
      `--kubeconfig=${kcmConfig}`,
      `--authentication-kubeconfig=${kcmConfig}`,
      `--authorization-kubeconfig=${kcmConfig}`,
      "--secure-port=0",
      "--leader-elect=false",
      `--service-account-private-key-file=${pki}/sa.key`,
      `--root-ca-file=${ca.certFile}`,
      "--use-service-account-credentials=true",
      `--cluster-signing-cert-file=${ca.certFile}`,
      `--cluster-signing-key-file=${ca.keyFile}`,
      "--cluster-name=e2e",
      `--flex-volume-plugin-dir=${dir}/kcm-flexvolume`,
      "--v=1",
    ]);
    const schedConfig = await kubeconfig("kube-scheduler", schedClient);
    spawn("kube-scheduler", peerBinary("kube-scheduler"), [
      `--kubeconfig=${schedConfig}`,
      `--authentication-kubeconfig=${schedConfig}`,
      `--authorization-kubeconfig=${schedConfig}`,
      "--secure-port=0",
      "--leader-elect=false",
      "--v=1",
    ]);

    // --- containerd with its own root, state, socket, runc root and CNI folders.
    const ctrd = `${dir}/containerd`;
    const sock = `${ctrd}/containerd.sock`;
    const hostsDir = `${ctrd}/certs.d`;
    await Deno.mkdir(`${hostsDir}/${registry.host}`, { recursive: true });
    await Deno.writeTextFile(`${ctrd}/registry-ca.crt`, registry.caCert);
    await Deno.writeTextFile(
      `${hostsDir}/${registry.host}/hosts.toml`,
      `server = "${registry.url}"\n\n[host."${registry.url}"]\n  capabilities = ["pull", "resolve"]\n  ca = "${ctrd}/registry-ca.crt"\n`,
    );
    await Deno.mkdir(`${ctrd}/cni-conf`, { recursive: true });
    await Deno.writeTextFile(
      `${ctrd}/cni-conf/10-loopback.conflist`,
      JSON.stringify({
        cniVersion: "1.0.0",
        name: "e2e-loopback",
        plugins: [{ type: "loopback" }],
      }),
    );
    await Deno.writeTextFile(`${ctrd}/config.toml`, containerdConfig(ctrd, sock, pauseImage, runc));
    // Pods' cgroups live under this root; removed once containers are killed and containerd stopped.
    const cgroupRoot = `/e2e-${crypto.randomUUID().slice(0, 8)}`;
    undo.push({ name: "remove cgroups", run: () => removeCgroupRoot(cgroupRoot) });
    const containerd = spawn("containerd", peerBinary("containerd"), [
      `--config=${ctrd}/config.toml`,
    ], {
      // The shim is looked up in PATH; runc's path is in the config.
      PATH: `${PEERS_BIN}:${Deno.env.get("PATH") ?? "/usr/sbin:/usr/bin:/sbin:/bin"}`,
    });
    const ctr = (args: string[]) =>
      runOk(`${PEERS_BIN}/ctr`, ["--address", sock, "--namespace", "k8s.io", ...args]);
    await waitUntil(
      "containerd",
      async () => {
        await ctr(["version"]);
        return true;
      },
      30_000,
      containerd.logFile,
    );
    // Kill what is left of containers before containerd stops (stop() runs this before "stop
    // containerd"): pods the kubelet did not get to remove.
    undo.push({ name: "kill containers", run: () => killContainers(runc, `${ctrd}/runc`, sock) });
    // The sandbox image is pulled with the registry's credentials before the kubelet starts
    // (CRI would pull it without credentials); pod images come through imagePullSecrets.
    await ctr([
      "images",
      "pull",
      "--hosts-dir",
      hostsDir,
      "--user",
      `${registry.user.username}:${registry.user.password}`,
      pauseImage,
    ]);

    // --- kubelet: its own cgroup root (created in every v1 hierarchy), root dir, logs, plugins.
    await makeCgroupRoot(cgroupRoot);
    const kubeletDir = `${dir}/kubelet`;
    const podLogs = `${dir}/pod-logs`;
    undo.push({ name: "remove /var/log/containers links", run: () => removeLogLinks(podLogs) });
    await Deno.mkdir(kubeletDir, { recursive: true });
    const kubeletPort = freePortOn(NODE_IP);
    const kubeletConfig = {
      apiVersion: "kubelet.config.k8s.io/v1beta1",
      kind: "KubeletConfiguration",
      address: NODE_IP,
      port: kubeletPort,
      readOnlyPort: 0,
      healthzBindAddress: "127.0.0.1",
      healthzPort: freePort(),
      tlsCertFile: kubeletTls.certFile,
      tlsPrivateKeyFile: kubeletTls.keyFile,
      authentication: {
        anonymous: { enabled: false },
        webhook: { enabled: true },
        x509: { clientCAFile: ca.certFile },
      },
      authorization: { mode: "Webhook" },
      // Kubernetes 1.35+ refuses cgroup v1 unless told otherwise; this machine has v1 only.
      failCgroupV1: false,
      // No CAP_SYS_RESOURCE here: the default -999 only logs "Failed to ApplyOOMScoreAdj".
      oomScoreAdj: 0,
      failSwapOn: false,
      cgroupDriver: "cgroupfs",
      cgroupRoot,
      containerRuntimeEndpoint: `unix://${sock}`,
      imageServiceEndpoint: `unix://${sock}`,
      podLogsDir: podLogs,
      volumePluginDir: `${dir}/kubelet-plugins`,
      serializeImagePulls: true,
      // Never collect images nor evict pods for disk or memory on a shared test machine.
      imageGCHighThresholdPercent: 100,
      imageGCLowThresholdPercent: 99,
      evictionHard: {
        "memory.available": "1Mi",
        "nodefs.available": "1%",
        "nodefs.inodesFree": "1%",
        "imagefs.available": "1%",
        "imagefs.inodesFree": "1%",
      },
      syncFrequency: "10s",
      nodeStatusUpdateFrequency: "2s",
      rotateCertificates: false,
      shutdownGracePeriod: "0s",
      logging: { format: "text" },
    };
    await Deno.writeTextFile(`${kubeletDir}/config.json`, JSON.stringify(kubeletConfig, null, 2));
    const kubelet = spawn("kubelet", peerBinary("kubelet"), [
      `--config=${kubeletDir}/config.json`,
      `--kubeconfig=${await kubeconfig("kubelet", nodeClient)}`,
      `--root-dir=${kubeletDir}`,
      `--cert-dir=${kubeletDir}/pki`,
      `--hostname-override=${NODE_NAME}`,
      // Addresses: InternalIP NODE_IP, Hostname e2e-node (a loopback one is refused).
      `--node-ip=${NODE_IP}`,
      "--v=1",
    ], { PATH: sbinPath() });
    // Before the kubelet stops: delete every pod and wait until the kubelet has unmounted their
    // volumes and removed their containers (a pod leaves the API only after that).
    undo.push({ name: "delete pods", run: () => deletePods(api, kubelet.logFile) });

    // --- kube-proxy, nftables mode (table `kube-proxy` in families ip and ip6, removed by stop()
    // once it has exited). Started with the kubelet: it waits for the Node (its node IP). It
    // changes no sysctl: conntrack max and TCP timeouts 0 = leave as they are.
    undo.push({ name: "remove kube-proxy's nftables tables", run: removeKubeProxyTables });
    const proxyHealthz = `127.0.0.1:${freePort()}`;
    const kubeProxy = spawn("kube-proxy", peerBinary("kube-proxy"), [
      `--kubeconfig=${await kubeconfig("kube-proxy", proxyClient)}`,
      `--hostname-override=${NODE_NAME}`,
      "--proxy-mode=nftables",
      `--cluster-cidr=${CLUSTER_CIDR}`,
      `--nodeport-addresses=${NODE_IP}/32`,
      "--conntrack-max-per-core=0",
      "--conntrack-tcp-timeout-established=0",
      "--conntrack-tcp-timeout-close-wait=0",
      // No CAP_SYS_RESOURCE here (trap 2): the default -999 cannot be applied.
      "--oom-score-adj=0",
      `--healthz-bind-address=${proxyHealthz}`,
      `--metrics-bind-address=127.0.0.1:${freePort()}`,
      "--v=1",
    ], { PATH: sbinPath() }); // knftables runs `nft` from PATH

    const nodePath = `/api/v1/nodes/${NODE_NAME}`;
    await waitUntil(
      "node registration",
      async () => {
        const n = await api<{ kind?: string }>("GET", nodePath, undefined, [404]);
        return n.kind === "Node";
      },
      60_000,
      kubelet.logFile,
    );
    const { patch, close: closePatch } = makePatch(url, ca.cert, adminToken);
    undo.push({ name: "close patch client", run: () => Promise.resolve(closePatch()) });
    await waitUntil(
      "node Ready",
      async () => {
        const n = await api<NodeObj>("GET", nodePath);
        return n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ??
          false;
      },
      120_000,
      kubelet.logFile,
    );
    const readyAfterMs = Date.now() - t0;
    // kube-proxy is healthy once its IPv4 proxier has written its rules at least once (before
    // that /healthz answers 200 with no per-family status); meanwhile the ServiceAccount.
    let proxyReadyAfterMs = 0;
    await Promise.all([
      waitUntil(
        "kube-proxy first sync",
        async () => {
          const r = await fetch(`http://${proxyHealthz}/healthz`);
          const h = await r.json() as { status?: Record<string, { lastUpdated?: string }> };
          const last = h.status?.IPv4?.lastUpdated;
          return r.ok && !!last && !last.startsWith("0001-");
        },
        60_000,
        kubeProxy.logFile,
      ).then(() => proxyReadyAfterMs = Date.now() - t0),
      waitUntil(
        "default ServiceAccount",
        async () => {
          const sa = await api<{ kind?: string }>(
            "GET",
            "/api/v1/namespaces/default/serviceaccounts/default",
            undefined,
            [404],
          );
          return sa.kind === "ServiceAccount";
        },
        60_000,
        kcm.logFile,
      ),
    ]);

    return {
      ...client,
      dir,
      url,
      nodeIP: NODE_IP,
      kubeletDir,
      kubeconfig: adminKubeconfig,
      caCert: ca.cert,
      caFile: ca.certFile,
      adminToken,
      nodeName: NODE_NAME,
      registry,
      busyboxImage,
      pauseImage,
      readyAfterMs,
      proxyReadyAfterMs,
      logFiles,
      patch,
      async pullSecret(namespace: string) {
        const { username, password } = registry.user;
        const docker = {
          auths: {
            [registry.host]: { username, password, auth: btoa(`${username}:${password}`) },
          },
        };
        await api("POST", `/api/v1/namespaces/${namespace}/secrets`, {
          apiVersion: "v1",
          kind: "Secret",
          metadata: { name: PULL_SECRET },
          type: "kubernetes.io/dockerconfigjson",
          data: { ".dockerconfigjson": btoa(JSON.stringify(docker)) },
        }, [409]);
      },
      mounts: () => mountsUnder(dir),
      ctr,
      stop,
    };
  } catch (e) {
    try {
      await stop({ keepLogsIn: Deno.env.get("E2E_KEEP_LOGS") || undefined });
    } catch (e2) {
      console.error(`cleanup after a failed start: ${e2}`);
    }
    throw e;
  }
}

interface NodeObj {
  status?: {
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

function makePatch(url: string, caCert: string, token: string) {
  const client = Deno.createHttpClient({ caCerts: [caCert] });
  const patch = async <T>(path: string, body: unknown): Promise<T> => {
    const r = await fetch(url + path, {
      method: "PATCH",
      client,
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/merge-patch+json",
      },
      body: JSON.stringify(body),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`PATCH ${path}: HTTP ${r.status}: ${text.slice(0, 500)}`);
    return JSON.parse(text) as T;
  };
  return { patch, close: () => client.close() };
}

/** A client certificate (CN = user, O = groups) signed by `ca`. */
async function makeClient(dir: string, name: string, ca: Ca, user: string, groups: string[]) {
  const certFile = `${dir}/${name}.crt`;
  const keyFile = `${dir}/${name}.key`;
  const ext = `${dir}/${name}.ext`;
  await Deno.writeTextFile(
    ext,
    "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
  );
  const subj = groups.map((g) => `/O=${g}`).join("") + `/CN=${user}`;
  await runOk("openssl", [
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-subj",
    subj,
    "-keyout",
    keyFile,
    "-out",
    `${dir}/${name}.csr`,
  ]);
  await runOk("openssl", [
    "x509",
    "-req",
    "-in",
    `${dir}/${name}.csr`,
    "-CA",
    ca.certFile,
    "-CAkey",
    ca.keyFile,
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    ext,
    "-out",
    certFile,
  ]);
  return { certFile, keyFile };
}

/** containerd 2.3 config (version 4): everything under `root`, no host-wide paths but the
 * shims' socket folder /run/containerd/s (not configurable). */
function containerdConfig(root: string, sock: string, pauseImage: string, runc: string): string {
  return `version = 4
root = "${root}/root"
state = "${root}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]

imports = []

[debug]
  level = "info"

[plugins]
  [plugins.'io.containerd.server.v1.grpc']
    address = "${sock}"
  [plugins.'io.containerd.server.v1.ttrpc']
    address = "${sock}.ttrpc"
  [plugins.'io.containerd.internal.v1.opt']
    path = "${root}/opt"
  [plugins.'io.containerd.nri.v1.nri']
    disable = true
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = "overlayfs"
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = "${pauseImage}"
    [plugins.'io.containerd.cri.v1.images'.registry]
      config_path = "${root}/certs.d"
  [plugins.'io.containerd.transfer.v1.local']
    config_path = "${root}/certs.d"
  [plugins.'io.containerd.cri.v1.runtime']
    netns_mounts_under_state_dir = true
    # This machine's root lacks CAP_SYS_RESOURCE: runc cannot lower oom_score_adj below
    # containerd's own (sandboxes get -998, Guaranteed containers -997) and fails with "can't get
    # final child's PID from pipe: EOF" (nsexec: "failed to update /proc/self/oom_score_adj").
    restrict_oom_score_adj = true
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = "runc"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = "${runc}"
          Root = "${root}/runc"
          SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ["${PEERS_BIN}/cni"]
      conf_dir = "${root}/cni-conf"
  [plugins.'io.containerd.grpc.v1.cri']
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
`;
}

/** Mount points at or under `dir`, deepest last (mountinfo order). */
export function mountsUnder(dir: string): string[] {
  const text = Deno.readTextFileSync("/proc/self/mountinfo");
  return text.split("\n").filter(Boolean)
    .map((l) =>
      (l.split(" ")[4] ?? "").replace(
        /\\([0-7]{3})/g,
        (_, o) => String.fromCharCode(parseInt(o, 8)),
      )
    )
    .filter((m) => m === dir || m.startsWith(dir + "/"));
}

/** Unmounts everything under `dir`, newest first (lazily when busy), until nothing is left. */
async function unmountUnder(dir: string) {
  for (let round = 0; round < 10; round++) {
    const mounts = mountsUnder(dir);
    if (!mounts.length) return;
    for (const m of mounts.reverse()) {
      const r = await new Deno.Command("umount", { args: [m], stderr: "piped" }).output();
      if (!r.success) {
        await new Deno.Command("umount", { args: ["-l", m], stderr: "null" }).output();
      }
    }
  }
  const left = mountsUnder(dir);
  if (left.length) throw new Error(`could not unmount: ${left.join(", ")}`);
}

/** Kills every container runc knows under `runcRoot` (all namespaces), then the shims of
 * this containerd (found by their -address argument), which would otherwise outlive it. */
async function killContainers(runc: string, runcRoot: string, sock: string) {
  let namespaces: string[] = [];
  try {
    namespaces = [...Deno.readDirSync(runcRoot)].filter((e) => e.isDirectory).map((e) => e.name);
  } catch { /* no container ever ran */ }
  for (const ns of namespaces) {
    const root = `${runcRoot}/${ns}`;
    const out = await new Deno.Command(runc, {
      args: ["--root", root, "list", "-q"],
      stdout: "piped",
      stderr: "null",
    })
      .output();
    for (const id of new TextDecoder().decode(out.stdout).split("\n").filter(Boolean)) {
      await new Deno.Command(runc, {
        args: ["--root", root, "kill", "--all", id, "KILL"],
        stderr: "null",
      }).output();
      await new Deno.Command(runc, {
        args: ["--root", root, "delete", "--force", id],
        stderr: "null",
      }).output();
    }
  }
  for (const pid of shimPids(sock)) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch { /* gone */ }
  }
}

/** PIDs of containerd-shim-runc-v2 processes started by the containerd listening on `sock`. */
export function shimPids(sock: string): number[] {
  const pids: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const args = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).split("\0");
      if (args[0]?.endsWith("containerd-shim-runc-v2") && args.includes(sock)) {
        pids.push(Number(e.name));
      }
    } catch { /* exited */ }
  }
  return pids;
}

/** Deletes all pods (graceful) and waits until the kubelet has finished with them: a pod bound to
 * a node leaves the API only once its containers are gone and its volumes unmounted. */
async function deletePods(api: KubeApi["api"], kubeletLog: string) {
  interface Item {
    metadata: { namespace: string; name: string; ownerReferences?: Array<{ kind: string }> };
  }
  // [API group path, resource]
  const PODS = ["/api/v1", "pods"] as const;
  const list = async ([group, resource]: readonly [string, string]) =>
    (await api<{ items: Item[] }>("GET", `${group}/${resource}`)).items;
  const del = ([group, resource]: readonly [string, string], i: Item) =>
    api(
      "DELETE",
      `${group}/namespaces/${i.metadata.namespace}/${resource}/${i.metadata.name}`,
      { apiVersion: "v1", kind: "DeleteOptions", gracePeriodSeconds: 1 },
      [404],
    );
  const deleteAll = async (r: readonly [string, string], keep = (_: Item) => false) => {
    for (const i of (await list(r)).filter((i) => !keep(i))) await del(r, i);
  };
  const byDaemonSet = (p: Item) =>
    p.metadata.ownerReferences?.some((o) => o.kind === "DaemonSet") ?? false;
  const podsGone = (what: string, keep: (p: Item) => boolean) =>
    waitUntil(what, async () => (await list(PODS)).every(keep), 60_000, kubeletLog);
  // Controllers first, so nothing recreates what is deleted; DaemonSets last, since their
  // Pods may be node plugins (a CSI driver) that the other Pods need to unmount volumes.
  for (const r of ["deployments", "replicasets", "statefulsets"]) {
    await deleteAll(["/apis/apps/v1", r]);
  }
  await deleteAll(["/apis/batch/v1", "jobs"]);
  await deleteAll(PODS, byDaemonSet);
  await podsGone("pods deleted by the kubelet", byDaemonSet);
  await deleteAll(["/apis/apps/v1", "daemonsets"]);
  await deleteAll(PODS);
  await podsGone("DaemonSet pods deleted by the kubelet", () => false);
}

const CGROUP_FS = "/sys/fs/cgroup";

function hierarchies(): string[] {
  return [...Deno.readDirSync(CGROUP_FS)].filter((e) => e.isDirectory).map((e) =>
    `${CGROUP_FS}/${e.name}`
  );
}

/** The kubelet checks that its cgroup root exists in each v1 hierarchy it uses. */
async function makeCgroupRoot(root: string) {
  for (const h of hierarchies()) {
    await Deno.mkdir(`${h}${root}`, { recursive: true });
    if (h.endsWith("/cpuset")) {
      // A new cpuset cgroup starts with no CPUs and memory nodes: copy the parent's.
      for (const f of ["cpuset.cpus", "cpuset.mems"]) {
        await Deno.writeTextFile(`${h}${root}/${f}`, await Deno.readTextFile(`${h}/${f}`));
      }
    }
  }
}

/** Removes the cgroup tree under `root` in every hierarchy, deepest first. */
async function removeCgroupRoot(root: string) {
  const left: string[] = [];
  for (const h of hierarchies()) {
    const dirs: string[] = [];
    const walk = (d: string) => {
      dirs.push(d);
      try {
        for (const e of Deno.readDirSync(d)) if (e.isDirectory) walk(`${d}/${e.name}`);
      } catch { /* missing */ }
    };
    walk(`${h}${root}`);
    for (const d of dirs.reverse()) {
      try {
        await Deno.remove(d);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) left.push(`${d} (${e})`);
      }
    }
  }
  if (left.length) throw new Error(`cgroups left: ${left.join(", ")}`);
}

/** Fixed host paths (parents before children): the kubelet's device-plugin socket and its
 * /var/log/containers links folder, the containerd shims' socket folder. */
const HOST_PATHS = [
  "/var/lib/kubelet",
  "/var/lib/kubelet/device-plugins",
  "/var/lib/kubelet/device-plugins/kubelet.sock",
  "/var/log/containers",
  "/run/containerd",
  "/run/containerd/s",
];

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Removes `paths` (created by this cluster), children first; a folder only when empty. */
async function removeHostPaths(paths: string[]) {
  for (const p of [...paths].reverse()) {
    try {
      const st = await Deno.lstat(p);
      if (st.isDirectory && [...Deno.readDirSync(p)].length) continue;
      await Deno.remove(p);
    } catch { /* gone already */ }
  }
}

/** The kubelet links container logs from the fixed /var/log/containers into podLogsDir. */
async function removeLogLinks(podLogs: string) {
  const d = "/var/log/containers";
  try {
    for (const e of Deno.readDirSync(d)) {
      if (!e.isSymlink) continue;
      const target = await Deno.readLink(`${d}/${e.name}`).catch(() => "");
      if (target.startsWith(podLogs + "/")) await Deno.remove(`${d}/${e.name}`).catch(() => {});
    }
  } catch { /* no such folder */ }
}

/** Path of an administration command (ip, nft) also when PATH lacks the sbin folders, or null. */
function sbin(name: string): string | null {
  for (const d of sbinPath().split(":")) {
    if (d && exists(`${d}/${name}`)) return `${d}/${name}`;
  }
  return null;
}

/** PATH with the sbin folders (kube-proxy runs `nft`, the kubelet `mount` etc. from PATH). */
function sbinPath(): string {
  const path = (Deno.env.get("PATH") ?? "/usr/bin:/bin").split(":");
  for (const d of ["/usr/local/sbin", "/usr/sbin", "/sbin"]) if (!path.includes(d)) path.push(d);
  return path.join(":");
}

/** A port that was free a moment ago on `host`. */
function freePortOn(host: string): number {
  const l = Deno.listen({ hostname: host, port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

const ip = (args: string[]) => runOk(sbin("ip") ?? "ip", args);

/** Cluster folders of this process whose cluster owns NODE_INTERFACE right now. */
const interfaceOwners = new Set<string>();

/** `pid=<pid> start=<start time> dir=<cluster folder>`: who created the interface (its alias). */
function ownerTag(dir: string): string {
  return `secrets-store-e2e pid=${Deno.pid} start=${processStart(Deno.pid)} dir=${dir}`;
}

/** A process's start time (field 22 of /proc/<pid>/stat), to tell a reused pid apart; "" if gone. */
function processStart(pid: number): string {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? "";
  } catch {
    return "";
  }
}

/** Creates NODE_INTERFACE: a bridge without ports, NODE_IP/24, up, and the route of SERVICE_CIDR
 * to it (source NODE_IP), so that no packet to a Service IP leaves the machine. An interface left
 * by a cluster that did not stop (crashed test) is deleted and made anew, with kube-proxy's
 * tables; one owned by a running cluster (this process's or a live one's) is an error. */
async function createNodeInterface(dir: string) {
  const sys = `/sys/class/net/${NODE_INTERFACE}`;
  if (exists(sys)) {
    const alias = Deno.readTextFileSync(`${sys}/ifalias`).trim();
    const m = /pid=(\d+) start=(\d*) dir=(\S+)/.exec(alias);
    if (m) {
      const [pid, start, owner] = [Number(m[1]), m[2] ?? "", m[3] ?? ""];
      const live = pid === Deno.pid ? interfaceOwners.has(owner) : processStart(pid) === start;
      if (live) {
        throw new Error(
          `${NODE_INTERFACE} (${NODE_IP}) belongs to a running e2e cluster (pid ${pid}, ${owner}): ` +
            "one cluster per machine at a time",
        );
      }
    }
    await ip(["link", "delete", NODE_INTERFACE]);
    await removeKubeProxyTables();
  }
  await ip(["link", "add", NODE_INTERFACE, "type", "bridge"]);
  interfaceOwners.add(dir);
  await ip(["link", "set", NODE_INTERFACE, "alias", ownerTag(dir)]);
  await ip(["addr", "add", `${NODE_IP}/24`, "dev", NODE_INTERFACE]);
  await ip(["link", "set", NODE_INTERFACE, "up"]);
  await ip(["route", "add", SERVICE_CIDR, "dev", NODE_INTERFACE, "src", NODE_IP]);
}

/** Deletes NODE_INTERFACE (and with it its address and routes) when this cluster owns it. */
async function deleteNodeInterface(dir: string) {
  if (!interfaceOwners.delete(dir)) return;
  let alias = "";
  try {
    alias = Deno.readTextFileSync(`/sys/class/net/${NODE_INTERFACE}/ifalias`).trim();
  } catch {
    return; // gone already
  }
  if (alias && alias !== ownerTag(dir)) {
    throw new Error(`${NODE_INTERFACE} was replaced by someone else (alias "${alias}"): kept`);
  }
  await ip(["link", "delete", NODE_INTERFACE]);
}

/** Deletes kube-proxy's nftables tables (`kube-proxy` in families ip and ip6), if any. */
async function removeKubeProxyTables() {
  const nft = sbin("nft") ?? "nft";
  const tables = await runOk(nft, ["list", "tables"]);
  for (const line of tables.split("\n")) {
    const m = /^table (ip|ip6) kube-proxy$/.exec(line.trim());
    if (m?.[1]) await runOk(nft, ["delete", "table", m[1], "kube-proxy"]);
  }
}
