/** `secrets-store csi serve` as the kubelet meets it: its own process serving the CSI socket,
 * and a gRPC client that calls it the way the kubelet does. */
import * as grpc from "@grpc/grpc-js";
import { csiPackage } from "../../lib/csi/proto.ts";
import type { KubeApi } from "./kube_api.ts";
import { ROOT, type Server, spawnServer, waitUntil } from "./process.ts";

export interface CsiDriver {
  socket: string;
  stateDir: string;
  logFile: string;
  stop(): Promise<void>;
}

export interface StartCsi {
  /** Folder for the socket, state and log; reused across restarts. */
  dir: string;
  /** `token` is the driver's own (CSI_USER in harness/kube.ts), so the audit log tells its
   * requests apart. */
  kube: { url: string; caFile: string; token: string };
  /** Connection settings YAML. */
  settings: string;
  rotationInterval?: string;
  /** The `deno compile` executable to run; `deno run main.ts` when unset. */
  binary?: string | undefined;
  /** Where targets must lie (--kubelet-dir); `dir` when unset. */
  kubeletDir?: string;
  extraArgs?: string[];
}

/** Starts the driver and waits until its socket answers Probe. */
export async function startCsi(o: StartCsi): Promise<CsiDriver> {
  await Deno.mkdir(o.dir, { recursive: true });
  await Deno.writeTextFile(`${o.dir}/settings.yaml`, o.settings);
  await Deno.writeTextFile(`${o.dir}/kube-token`, o.kube.token);
  const socket = `${o.dir}/csi.sock`;
  // The compiled executable when given (as it ships), else the program under `deno run`.
  const [exe, ...start] = o.binary
    ? [o.binary]
    : [Deno.execPath(), "run", "--allow-all", "--quiet", `${ROOT}/main.ts`];
  const server: Server = spawnServer(`csi-${Date.now()}`, o.dir, exe!, [
    ...start,
    "csi",
    "serve",
    `--endpoint=unix://${socket}`,
    "--node-id=test-node",
    `--state-dir=${o.dir}/state`,
    `--kubelet-dir=${o.kubeletDir ?? o.dir}`,
    `--config=${o.dir}/settings.yaml`,
    `--rotation-interval=${o.rotationInterval ?? "2m"}`,
    `--kube-server=${o.kube.url}`,
    `--kube-token-file=${o.dir}/kube-token`,
    `--kube-ca-file=${o.kube.caFile}`,
    "--log-level=debug",
    ...(o.extraArgs ?? []),
  ]);
  const client = csiClient(socket);
  try {
    await waitUntil(
      "csi driver",
      async () => {
        const r = await client.call<{ ready?: { value?: boolean } }>("Identity", "Probe", {});
        return r.ready?.value === true;
      },
      30_000,
      server.logFile,
    );
  } finally {
    client.close();
  }
  return { socket, stateDir: `${o.dir}/state`, logFile: server.logFile, stop: () => server.stop() };
}

export interface CsiClient {
  call<T = Record<string, unknown>>(
    service: "Identity" | "Node",
    method: string,
    req: unknown,
  ): Promise<T>;
  close(): void;
}

/** A CSI client on `socket`; rejects with the gRPC error (code and details). */
export function csiClient(socket: string): CsiClient {
  const pkg = csiPackage();
  const creds = grpc.credentials.createInsecure();
  const clients = {
    Identity: new pkg.Identity(`unix://${socket}`, creds),
    Node: new pkg.Node(`unix://${socket}`, creds),
  };
  return {
    call: <T>(service: "Identity" | "Node", method: string, req: unknown) =>
      new Promise<T>((resolve, reject) => {
        const c = clients[service] as unknown as Record<
          string,
          (r: unknown, cb: (e: grpc.ServiceError | null, res: T) => void) => void
        >;
        c[method]!.call(clients[service], req, (e, res) => e ? reject(e) : resolve(res));
      }),
    close: () => Object.values(clients).forEach((c) => c.close()),
  };
}

/** The volume context the kubelet sends for an ephemeral inline volume of `pod`. */
export function kubeletContext(
  ssi: string,
  pod: { namespace: string; name: string; uid: string; serviceAccount: string },
  tokens: Record<string, string>,
): Record<string, string> {
  return {
    secretsStoreImport: ssi,
    "csi.storage.k8s.io/ephemeral": "true",
    "csi.storage.k8s.io/pod.namespace": pod.namespace,
    "csi.storage.k8s.io/pod.name": pod.name,
    "csi.storage.k8s.io/pod.uid": pod.uid,
    "csi.storage.k8s.io/serviceAccount.name": pod.serviceAccount,
    "csi.storage.k8s.io/serviceAccount.tokens": JSON.stringify(
      Object.fromEntries(
        Object.entries(tokens).map((
          [aud, token],
        ) => [aud, { token, expirationTimestamp: new Date(Date.now() + 600_000).toISOString() }]),
      ),
    ),
  };
}

/** A Pod as the kubelet describes it in a volume context. */
export interface TestPod {
  namespace: string;
  name: string;
  uid: string;
  serviceAccount: string;
}

/** Creates a Pod object through the API server (never scheduled: there is no kubelet), so
 * TokenRequest can bind a token to it. */
export async function createPod(
  kube: KubeApi,
  namespace: string,
  name: string,
  serviceAccount: string,
): Promise<TestPod> {
  const pod = await kube.api<{ metadata: { uid: string } }>(
    "POST",
    `/api/v1/namespaces/${namespace}/pods`,
    {
      metadata: { name },
      spec: {
        serviceAccountName: serviceAccount,
        automountServiceAccountToken: false,
        containers: [{ name: "app", image: "registry.invalid/app" }],
      },
    },
  );
  return { namespace, name, uid: pod.metadata.uid, serviceAccount };
}

/** A token bound to `pod`, as the kubelet requests it for the CSIDriver's tokenRequests. */
export async function podToken(kube: KubeApi, pod: TestPod, audiences?: string[]): Promise<string> {
  const res = await kube.api<{ status: { token: string } }>(
    "POST",
    `/api/v1/namespaces/${pod.namespace}/serviceaccounts/${pod.serviceAccount}/token`,
    {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenRequest",
      spec: {
        expirationSeconds: 600,
        ...(audiences ? { audiences } : {}),
        boundObjectRef: { apiVersion: "v1", kind: "Pod", name: pod.name, uid: pod.uid },
      },
    },
  );
  return res.status.token;
}

/** The pid of the driver serving `socket` (found in /proc by its --endpoint argument), for
 * tests that stop or kill it mid-request. */
export function driverPid(socket: string): number {
  const want = `--endpoint=unix://${socket}`;
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    let args: string[];
    try {
      args = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).split("\0");
    } catch {
      continue; // gone meanwhile
    }
    if (args.includes(want) && args.includes("serve")) return Number(e.name);
  }
  throw new Error(`no driver process for ${socket}`);
}

/** Slows every rename(2) of process `pid` by `delayUs` (strace's fault injection), so a test
 * can stop it at a chosen file of a publish: the driver renames each file into place once it
 * is written. Undefined when strace is not installed. */
export async function slowRenames(
  pid: number,
  delayUs: number,
): Promise<{ done: Promise<unknown> } | undefined> {
  const calls = "rename,renameat,renameat2";
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("strace", {
      args: [
        "-qq",
        "-p",
        String(pid),
        "-e",
        `trace=${calls}`,
        "-e",
        `inject=${calls}:delay_exit=${delayUs}`,
        "-o",
        "/dev/null",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
  await waitUntil("strace attached", async () => {
    const status = await Deno.readTextFile(`/proc/${pid}/status`);
    return !/^TracerPid:\s+0$/m.test(status);
  }, 5000);
  return { done: child.status };
}

/** Creates a SecretsStoreImport of type CSI in `ns` whose files each take one key of one
 * path, as the guide writes them. */
export async function createFileSsi(
  kube: KubeApi,
  ns: string,
  name: string,
  role: string,
  files: Array<{ name: string; path: string; key: string }>,
): Promise<void> {
  await kube.api("POST", `/apis/deckhouse.io/v1alpha1/namespaces/${ns}/secretsstoreimports`, {
    apiVersion: "deckhouse.io/v1alpha1",
    kind: "SecretsStoreImport",
    metadata: { name, namespace: ns },
    spec: {
      type: "CSI",
      role,
      files: files.map((f) => ({ name: f.name, source: { path: f.path, key: f.key } })),
    },
  });
}

/** Applies the chart's SecretsStoreImport CRD (already there is fine: test files share the
 * API server) and waits until the API server serves it. */
export async function applySsiCrd(kube: KubeApi): Promise<void> {
  const { parse } = await import("yaml");
  const crd = await Deno.readTextFile(
    `${ROOT}/deploy/helm/secrets-store/crds/secretsstoreimports.deckhouse.io.yaml`,
  );
  await kube.api("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", parse(crd), [
    409,
  ]);
  await waitUntil("CRD established", async () => {
    const r = await kube.api<
      { status?: { conditions?: Array<{ type: string; status: string }> } }
    >(
      "GET",
      "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/secretsstoreimports.deckhouse.io",
    );
    return !!r.status?.conditions?.some((c) => c.type === "Established" && c.status === "True");
  }, 20_000);
}
