/** The webhook as the API server meets it: `secrets-store webhook serve` as its own process
 * on 127.0.0.1, registered with the real kube-apiserver through a
 * MutatingWebhookConfiguration (url + caBundle). */
import { makeCa, makeLeaf } from "./pki.ts";
import { freePort, ROOT, spawnServer, waitUntil } from "./process.ts";
import type { KubeApi } from "./kube_api.ts";

export interface WebhookServer {
  url: string;
  caCert: string;
  certFile: string;
  keyFile: string;
  /** Writes a new serving certificate (same CA) over the files; returns its serial. */
  rotateCert(): Promise<string>;
  logFile: string;
  stop(): Promise<void>;
}

export interface StartWebhook {
  dir: string;
  /** The settings file's YAML text. */
  settings: string;
  /** The API server, and the token the webhook calls it with (env.kube.webhookToken: its
   * own user, so the audit log shows what it asked). */
  kube: { url: string; caFile: string; token: string };
  /** The compiled executable to run instead of `deno run main.ts`. */
  binary?: string | undefined;
  /** Serving threads (--workers); 1 when not given. */
  workers?: number;
}

/** Starts the webhook process and waits for /healthz. */
export async function startWebhook(o: StartWebhook): Promise<WebhookServer> {
  const dir = `${o.dir}/webhook`;
  await Deno.mkdir(dir, { recursive: true });
  const ca = await makeCa(dir, "webhook-ca");
  const leaf = await makeLeaf(dir, "webhook", ca, ["IP:127.0.0.1"]);
  await Deno.writeTextFile(`${dir}/settings.yaml`, o.settings);
  await Deno.writeTextFile(`${dir}/kube-token`, o.kube.token);
  const port = freePort();
  const [exe, ...start] = o.binary
    ? [o.binary]
    : [Deno.execPath(), "run", "--allow-all", "--quiet", `${ROOT}/main.ts`];
  const server = spawnServer("webhook", dir, exe!, [
    ...start,
    "webhook",
    "serve",
    `--config=${dir}/settings.yaml`,
    `--listen=127.0.0.1:${port}`,
    `--tls-cert=${leaf.certFile}`,
    `--tls-key=${leaf.keyFile}`,
    "--tls-reload-every=200ms",
    `--kube-server=${o.kube.url}`,
    `--kube-token-file=${dir}/kube-token`,
    `--kube-ca-file=${o.kube.caFile}`,
    "--log-level=debug",
    `--workers=${o.workers ?? 1}`,
  ]);
  const url = `https://127.0.0.1:${port}`;
  const client = Deno.createHttpClient({ caCerts: [ca.cert] });
  await waitUntil(
    "webhook",
    async () => {
      const r = await fetch(`${url}/healthz`, { client });
      await r.body?.cancel();
      return r.ok;
    },
    30_000,
    server.logFile,
  );
  client.close();
  let n = 0;
  return {
    url,
    caCert: ca.cert,
    certFile: leaf.certFile,
    keyFile: leaf.keyFile,
    async rotateCert() {
      const next = await makeLeaf(dir, `webhook-${++n}`, ca, ["IP:127.0.0.1"]);
      // Key first, then certificate, each replaced atomically, as a Secret volume update does.
      await Deno.rename(next.keyFile, leaf.keyFile);
      await Deno.rename(next.certFile, leaf.certFile);
      return await certSerial(leaf.certFile);
    },
    logFile: server.logFile,
    stop: () => server.stop(),
  };
}

/** The serial number of a PEM certificate file. */
export async function certSerial(file: string): Promise<string> {
  const out = await new Deno.Command("openssl", {
    args: ["x509", "-noout", "-serial", "-in", file],
  }).output();
  return new TextDecoder().decode(out.stdout).trim();
}

/** The serial of the certificate a TLS server presents. */
export async function servedSerial(hostPort: string): Promise<string> {
  const child = new Deno.Command("sh", {
    args: [
      "-c",
      `openssl s_client -connect ${hostPort} </dev/null 2>/dev/null | openssl x509 -noout -serial`,
    ],
    stdout: "piped",
  });
  return new TextDecoder().decode((await child.output()).stdout).trim();
}

/** Registers the webhook for Pod CREATE in namespaces labelled `label=enabled`. */
export async function registerWebhook(
  kube: KubeApi,
  w: WebhookServer,
  label: string,
): Promise<void> {
  await kube.api("POST", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations", {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "MutatingWebhookConfiguration",
    metadata: { name: `secrets-store-${label}` },
    webhooks: [{
      name: "pods.secrets-store.deckhouse.io",
      clientConfig: { url: `${w.url}/mutate`, caBundle: btoa(w.caCert) },
      rules: [{
        operations: ["CREATE"],
        apiGroups: [""],
        apiVersions: ["v1"],
        resources: ["pods"],
      }],
      namespaceSelector: { matchLabels: { [label]: "enabled" } },
      failurePolicy: "Fail",
      sideEffects: "None",
      admissionReviewVersions: ["v1"],
      timeoutSeconds: 10,
    }],
  });
}
