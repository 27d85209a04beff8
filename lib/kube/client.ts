/** A small Kubernetes API client: the few GETs this product makes (Secrets, ServiceAccounts,
 * SecretsStoreImports). @kubernetes/client-node would add tens of MB of npm files to the
 * one executable that is copied into every Pod, and its module loading to every start-up. */
import type { z } from "zod";
import { describeIssues } from "../config/issues.ts";
import type { ApiPath } from "./api_path.ts";
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
  timeoutMs?: number | undefined;
}

/** A failed API call; `status` 404 means the object does not exist. */
export class KubeError extends Error {
  override name = "KubeError";
  constructor(readonly status: number, readonly path: string, message: string) {
    super(`Kubernetes API GET ${path}: ${message}`);
  }
}

/** Options for a process running in a Pod, from the mounted ServiceAccount. */
export function inClusterOptions(): KubeClientOptions {
  const host = Deno.env.get("KUBERNETES_SERVICE_HOST");
  const port = Deno.env.get("KUBERNETES_SERVICE_PORT") ?? "443";
  if (!host) {
    throw new TypeError(
      "KUBERNETES_SERVICE_HOST is not set: not running in a Pod; give --kube-server",
    );
  }
  return {
    server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
    tokenFile: `${SA_DIR}/token`,
    caCert: Deno.readTextFileSync(`${SA_DIR}/ca.crt`),
  };
}

/** The --kube-* flags of the serving roles. */
export interface KubeFlags {
  kubeServer?: string;
  kubeTokenFile?: string;
  kubeCaFile?: string;
}

/** Options from the --kube-* flags, or in-cluster ones when --kube-server is unset. */
export function kubeClientOptions(f: KubeFlags): KubeClientOptions {
  if (!f.kubeServer) return inClusterOptions();
  return {
    server: f.kubeServer,
    tokenFile: f.kubeTokenFile,
    caCert: f.kubeCaFile ? Deno.readTextFileSync(f.kubeCaFile) : undefined,
  };
}

export class KubeClient {
  readonly #http: Deno.HttpClient;

  constructor(readonly o: KubeClientOptions) {
    this.#http = Deno.createHttpClient(o.caCert ? { caCerts: [o.caCert] } : {});
  }

  /** GETs `path` (built by api_path.ts, never by hand) and validates it with `schema`. */
  async get<T>(path: ApiPath, schema: z.ZodType<T>): Promise<T> {
    const token = this.o.tokenFile
      ? (await Deno.readTextFile(this.o.tokenFile)).trim()
      : this.o.token;
    const timeoutMs = this.o.timeoutMs ?? 5000;
    // One deadline for the headers and the whole body: a server that stalls mid-body fails too.
    const signal = AbortSignal.timeout(timeoutMs);
    let res: Response;
    let text: string;
    try {
      res = await fetch(new URL(path, this.o.server), {
        client: this.#http,
        headers: {
          accept: "application/json",
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        signal,
      });
      text = await readText(res, MAX_ANSWER);
    } catch (e) {
      const reason = signal.aborted ? `no answer within ${timeoutMs} ms` : (e as Error).message;
      throw new KubeError(0, path, reason);
    }
    if (!res.ok) {
      let reason = `HTTP ${res.status}`;
      try {
        reason = `${JSON.parse(text).message ?? reason} (HTTP ${res.status})`;
      } catch { /* not a Status object */ }
      throw new KubeError(res.status, path, reason);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new KubeError(res.status, path, "unexpected answer: not JSON");
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      throw new KubeError(
        res.status,
        path,
        `unexpected answer: ${describeIssues(parsed.error.issues)}`,
      );
    }
    return parsed.data;
  }

  close(): void {
    this.#http.close();
  }
}

/** Answers larger than this are refused: the objects read here (a Secret, a ServiceAccount, a
 * SecretsStoreImport) are far smaller, and a body that never ends must not fill the heap. */
export const MAX_ANSWER = 8 * 1024 * 1024;
