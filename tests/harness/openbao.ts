/** A real OpenBao dev server with TLS on 127.0.0.1, fresh each run. */
import { freePort, peerBinary, spawnServer, waitUntil } from "./process.ts";

export interface OpenBao {
  address: string;
  /** PEM of the CA that signed the server certificate. */
  caCert: string;
  caFile: string;
  rootToken: string;
  /** Every request the server saw, one JSON line each (a file audit device). */
  auditLog: string;
  logFile: string;
  stop(): Promise<void>;
}

/** Starts `bao server -dev -dev-tls` in `dir` and waits for it to be unsealed. */
export async function startOpenBao(dir: string): Promise<OpenBao> {
  const port = freePort();
  const certDir = `${dir}/bao-tls`;
  await Deno.mkdir(certDir, { recursive: true });
  const rootToken = "root-" + crypto.randomUUID();
  // Audit devices can only be declared in configuration since OpenBao 2.0; tests read this
  // log to count what the product asked the store for.
  const auditLog = `${dir}/openbao-audit.log`;
  await Deno.writeTextFile(
    `${dir}/openbao.hcl`,
    `audit "file" "test" {\n  options {\n    file_path = "${auditLog}"\n  }\n}\n`,
  );
  const server = spawnServer("openbao", dir, peerBinary("bao"), [
    "server",
    "-dev",
    "-dev-tls",
    `-dev-tls-cert-dir=${certDir}`,
    `-dev-root-token-id=${rootToken}`,
    `-dev-listen-address=127.0.0.1:${port}`,
    "-dev-no-store-token",
    `-config=${dir}/openbao.hcl`,
  ], { HOME: dir, BAO_LOG_LEVEL: "warn" });
  const address = `https://127.0.0.1:${port}`;
  const caFile = `${certDir}/vault-ca.pem`;
  await waitUntil(
    "OpenBao",
    async () => {
      // A client per try: the CA file may be read while the server is still writing it, and
      // a client made from half a certificate would fail every try after.
      const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(caFile)] });
      try {
        const r = await fetch(`${address}/v1/sys/health`, { client });
        await r.body?.cancel();
        return r.status === 200;
      } finally {
        client.close();
      }
    },
    30_000,
    server.logFile,
  );
  return {
    address,
    caCert: await Deno.readTextFile(caFile),
    caFile,
    rootToken,
    auditLog,
    logFile: server.logFile,
    stop: () => server.stop(),
  };
}
