/** A real etcd + kube-apiserver on 127.0.0.1 with ServiceAccount token issuing, so tests get
 * genuine ServiceAccount JWTs (TokenRequest) that OpenBao verifies through TokenReview. */
import { type KubeApi, kubeApi } from "./kube_api.ts";
import { makeCa, makeLeaf } from "./pki.ts";
import { freePort, peerBinary, runOk, type Server, spawnServer, waitUntil } from "./process.ts";

export interface Kube extends KubeApi {
  url: string;
  /** PEM of the CA that signed the apiserver's serving certificate. */
  caCert: string;
  caFile: string;
  /** Static token in group system:masters, for the tests and OpenBao's TokenReview calls. */
  adminToken: string;
  /** Static tokens of the product's serving roles (users WEBHOOK_USER and CSI_USER, also in
   * system:masters, so an escape would succeed), so the audit log tells their requests from
   * the tests' own. */
  webhookToken: string;
  csiToken: string;
  /** The API server's audit log: one JSON line per request stage (kube_audit.ts reads it). */
  auditLog: string;
  logFiles: string[];
  stop(): Promise<void>;
}

export const WEBHOOK_USER = "secrets-store-webhook";
export const CSI_USER = "secrets-store-csi";

/** Every request at level Metadata (who, verb, path, object, status; no bodies, so no
 * secret reaches the file), including the RequestReceived stage: it is written before the
 * request is served (the log backend blocks by default), so once a component has its
 * answer, its request is in the file. */
const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: Metadata
`;

/** Starts etcd and kube-apiserver under `dir`; resolves when /readyz answers 200. */
export async function startKube(dir: string): Promise<Kube> {
  const pki = `${dir}/kube-pki`;
  await Deno.mkdir(pki, { recursive: true });
  const ca = await makeCa(pki, "kube-ca");
  const tls = await makeLeaf(pki, "kube-apiserver", ca, ["IP:127.0.0.1", "DNS:localhost"]);
  await runOk("openssl", ["genrsa", "-out", `${pki}/sa.key`, "2048"]);
  await runOk("openssl", ["rsa", "-in", `${pki}/sa.key`, "-pubout", "-out", `${pki}/sa.pub`]);
  const adminToken = "admin-" + crypto.randomUUID();
  const webhookToken = "webhook-" + crypto.randomUUID();
  const csiToken = "csi-" + crypto.randomUUID();
  await Deno.writeTextFile(
    `${pki}/tokens.csv`,
    [
      `${adminToken},admin,admin,"system:masters"`,
      `${webhookToken},${WEBHOOK_USER},${WEBHOOK_USER},"system:masters"`,
      `${csiToken},${CSI_USER},${CSI_USER},"system:masters"`,
      "",
    ].join("\n"),
  );
  await Deno.writeTextFile(`${pki}/audit-policy.yaml`, AUDIT_POLICY);
  const auditLog = `${dir}/kube-audit.log`;

  const [etcdPort, peerPort, kubePort] = [freePort(), freePort(), freePort()];
  const servers: Server[] = [];
  const stopAll = async () => {
    for (const s of servers.reverse()) await s.stop();
  };
  try {
    const etcd = spawnServer("etcd", dir, peerBinary("etcd"), [
      "--name=t",
      `--data-dir=${dir}/etcd`,
      `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
      `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-cluster=t=http://127.0.0.1:${peerPort}`,
      "--unsafe-no-fsync",
      "--log-level=warn",
    ]);
    servers.push(etcd);
    const url = `https://127.0.0.1:${kubePort}`;
    const apiserver = spawnServer("kube-apiserver", dir, peerBinary("kube-apiserver"), [
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${kubePort}`,
      `--cert-dir=${pki}`,
      `--tls-cert-file=${tls.certFile}`,
      `--tls-private-key-file=${tls.keyFile}`,
      `--token-auth-file=${pki}/tokens.csv`,
      "--authorization-mode=RBAC",
      `--service-account-issuer=${url}`,
      `--service-account-key-file=${pki}/sa.pub`,
      `--service-account-signing-key-file=${pki}/sa.key`,
      "--service-cluster-ip-range=10.0.0.0/24",
      "--allow-privileged=true",
      "--disable-admission-plugins=ServiceAccount",
      `--audit-policy-file=${pki}/audit-policy.yaml`,
      `--audit-log-path=${auditLog}`,
      "--audit-log-format=json",
      "--audit-log-mode=blocking",
      "--v=1",
    ]);
    servers.push(apiserver);
    const caCert = ca.cert;
    const client = kubeApi(url, caCert, adminToken);
    await waitUntil(
      "kube-apiserver",
      async () => {
        return await client.api<unknown>("GET", "/readyz", undefined, [500, 503]) === "ok";
      },
      90_000,
      apiserver.logFile,
    );
    return {
      url,
      caCert,
      caFile: ca.certFile,
      adminToken,
      webhookToken,
      csiToken,
      auditLog,
      ...client,
      logFiles: [etcd.logFile, apiserver.logFile],
      async stop() {
        client.close();
        await stopAll();
      },
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}
