/** A small Kubernetes API client: the few GETs this product makes (Secrets, ServiceAccounts,
 * SecretsStoreImports) and the Events it writes. @kubernetes/client-node would add tens of MB
 * of npm files to the one executable that is copied into every Pod, and its module loading to
 * every start-up. */
import type { z } from "zod";
import { describeIssues } from "../config/issues.ts";
import type { ApiPath } from "./api_path.ts";
import { loadKubeconfig } from "./kubeconfig.ts";
import { readText } from "../http/body.ts";

export const SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

export interface KubeClientOptions {
  /** API server URL, e.g. https://10.0.0.1:443. */
  server: string;
  /** Bearer token; re-read from `tokenFile` on each call when given (tokens rotate). */
  token?: string | undefined;
  tokenFile?: string | undefined;
  /** PEM of the API server's CA. */
  caCert?: string | undefined;
  /** PEM client certificate and key (a kubeconfig's client-certificate), both or neither. */
  clientCert?: string | undefined;
  clientKey?: string | undefined;
  timeoutMs?: number | undefined;
}

/** A failed API call; `status` 404 means the object does not exist. */
export class KubeError extends Error {
  override name = "KubeError";
  constructor(
    readonly status: number,
    readonly path: string,
    message: string,
    readonly method = "GET",
  ) {
    super(`Kubernetes API ${method} ${path}: ${message}`);
  }
}

/** Options for a process running in a Pod, from the mounted ServiceAccount. */
export function inClusterOptions(): KubeClientOptions {
  const host = Deno.env.get("KUBERNETES_SERVICE_HOST");
  const port = Deno.env.get("KUBERNETES_SERVICE_PORT") ?? "443";
  if (!host) {
    throw new TypeError(
      "KUBERNETES_SERVICE_HOST is not set: not running in a Pod; give --kubeconfig (or set KUBECONFIG) or --kube-server",
    );
  }
  return {
    server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
    tokenFile: `${SA_DIR}/token`,
    caCert: Deno.readTextFileSync(`${SA_DIR}/ca.crt`),
  };
}

/** The --kube-* and --kubeconfig flags of the serving roles. */
export interface KubeFlags {
  kubeServer?: string;
  kubeTokenFile?: string;
  kubeCaFile?: string;
  kubeconfig?: string;
}

/** Options from, in this order: the --kube-* flags, --kubeconfig, $KUBECONFIG (the current
 * context of each), else in-cluster ones. `env` is the process environment, passed in so a
 * test need not change it. */
export function kubeClientOptions(
  f: KubeFlags,
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
): KubeClientOptions {
  if (f.kubeServer) {
    if (f.kubeconfig) {
      throw new TypeError("--kube-server and --kubeconfig are exclusive: give one of them");
    }
    return {
      server: f.kubeServer,
      tokenFile: f.kubeTokenFile,
      caCert: f.kubeCaFile ? Deno.readTextFileSync(f.kubeCaFile) : undefined,
    };
  }
  if (f.kubeconfig) return loadKubeconfig([f.kubeconfig], "--kubeconfig");
  const fromEnv = env("KUBECONFIG");
  if (fromEnv) {
    return loadKubeconfig(fromEnv.split(":").filter((p) => p), "KUBECONFIG", { skipMissing: true });
  }
  return inClusterOptions();
}

export class KubeClient {
  readonly #http: Deno.HttpClient;

  constructor(readonly o: KubeClientOptions) {
    const caCerts = o.caCert ? { caCerts: [o.caCert] } : {};
    this.#http = o.clientCert && o.clientKey
      ? Deno.createHttpClient({ ...caCerts, cert: o.clientCert, key: o.clientKey })
      : Deno.createHttpClient(caCerts);
  }

  /** GETs `path` (built by api_path.ts, never by hand) and validates it with `schema`. */
  async get<T>(path: ApiPath, schema: z.ZodType<T>): Promise<T> {
    const text = await this.#send("GET", path);
    let parsed;
    try {
      parsed = schema.safeParse(JSON.parse(text));
    } catch {
      throw new KubeError(200, path, "unexpected answer: not JSON");
    }
    if (!parsed.success) {
      throw new KubeError(200, path, `unexpected answer: ${describeIssues(parsed.error.issues)}`);
    }
    return parsed.data;
  }

  /** POSTs `body` (JSON) to a collection; the answer is not read beyond its status. `signal`
   * ends the request early (a caller's own deadline). */
  async create(path: ApiPath, body: unknown, signal?: AbortSignal): Promise<void> {
    await this.#send("POST", path, JSON.stringify(body), "application/json", signal);
  }

  /** A JSON merge patch (RFC 7386) of one object. */
  async mergePatch(path: ApiPath, patch: unknown, signal?: AbortSignal): Promise<void> {
    await this.#send(
      "PATCH",
      path,
      JSON.stringify(patch),
      "application/merge-patch+json",
      signal,
    );
  }

  async #send(
    method: string,
    path: ApiPath,
    body?: string,
    contentType?: string,
    signal?: AbortSignal,
  ): Promise<string> {
    const token = this.o.tokenFile
      ? (await Deno.readTextFile(this.o.tokenFile)).trim()
      : this.o.token;
    const timeoutMs = this.o.timeoutMs ?? 5000;
    // One deadline for the headers and the whole body: a server that stalls mid-body fails too.
    const timeout = AbortSignal.timeout(timeoutMs);
    let res: Response;
    let text: string;
    try {
      // Appended, not resolved: a server URL's path prefix (a proxy in front) is kept.
      res = await fetch(new URL(this.o.server.replace(/\/+$/, "") + path), {
        method,
        client: this.#http,
        headers: {
          accept: "application/json",
          ...(contentType ? { "content-type": contentType } : {}),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        ...(body === undefined ? {} : { body }),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
      // Under the same deadline and a size limit: an answer that never ends is cut off too.
      text = await readText(res, MAX_ANSWER);
    } catch (e) {
      const reason = timeout.aborted ? `no answer within ${timeoutMs} ms` : (e as Error).message;
      throw new KubeError(0, path, reason, method);
    }
    if (!res.ok) {
      let reason = `HTTP ${res.status}`;
      try {
        reason = `${JSON.parse(text).message ?? reason} (HTTP ${res.status})`;
      } catch { /* not a Status object */ }
      throw new KubeError(res.status, path, reason, method);
    }
    return text;
  }

  close(): void {
    this.#http.close();
  }
}

/** Answers larger than this are refused: the objects read here (a Secret, a ServiceAccount, a
 * SecretsStoreImport) are far smaller, and a body that never ends must not fill the heap. */
export const MAX_ANSWER = 8 * 1024 * 1024;
