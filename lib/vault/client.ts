/** A small client for the parts of the Vault HTTP API this product uses: Kubernetes-auth
 * login and KV v1/v2 reads. Works against Stronghold, HashiCorp Vault and OpenBao. */
import { z } from "zod";
import type { Logger } from "../log/logger.ts";
import { silentLogger } from "../log/logger.ts";
import { StoreError, type StoreErrorDetails, type StoreErrorKind } from "./errors.ts";
import { retry } from "./retry.ts";
import { type StoreAddress, storeUrl } from "./store_address.ts";
import { loginPath, type StorePath } from "./store_path.ts";
import { createTransport, type TlsOptions, type Transport, TransportError } from "./transport.ts";

export interface StoreClientOptions extends TlsOptions {
  /** Checked base address, e.g. https://stronghold.d8-stronghold.svc:8300 or
   * https://proxy.example/vault (the prefix is kept on every request). */
  address: StoreAddress;
  /** Store namespace, sent as X-Vault-Namespace. */
  namespace?: string;
  /** Per-request timeout; default 10 s. */
  requestTimeoutMs?: number;
  /** Extra attempts for network errors, 429 and 5xx; default 2. */
  retries?: number;
  /** First backoff ceiling in ms; default 200. */
  backoffMs?: number;
  /** A connection pool shared with other clients of the same address and TLS settings
   * (the CSI driver's identities); the client then does not close it. */
  transport?: Transport;
  logger?: Logger;
}

export interface LoginResult {
  token: string;
  /** Seconds the token is valid for, from the time of login. */
  leaseSeconds: number;
  renewable: boolean;
}

export interface Secret {
  path: StorePath;
  version?: number;
  /** Which KV engine answered, told from the shape of the answer. */
  kv: 1 | 2;
  data: Record<string, unknown>;
}

export interface ReadOptions {
  version?: number;
  signal?: AbortSignal;
}

const LoginResponse = z.object({
  auth: z.object({
    client_token: z.string().min(1),
    lease_duration: z.number().int().nonnegative(),
    renewable: z.boolean().default(false),
  }),
});

const ReadResponse = z.object({ data: z.record(z.string(), z.unknown()).nullable() });
const KvV2Data = z.object({
  data: z.record(z.string(), z.unknown()).nullable(),
  metadata: z.record(z.string(), z.unknown()).nullable(),
});
const ErrorBody = z.object({ errors: z.array(z.string()).optional() });

/** Client for one store address; holds the token of its last login in memory only. */
export class StoreClient {
  /** origin + prefix, how messages name the store. */
  readonly address: string;
  readonly namespace?: string;
  readonly #address: StoreAddress;
  #token?: string;
  #jwt?: string;
  readonly #transport: Transport;
  readonly #ownsTransport: boolean;
  readonly #timeoutMs: number;
  readonly #retries: number;
  readonly #backoffMs: number;
  readonly #log: Logger;

  constructor(o: StoreClientOptions) {
    this.#address = o.address;
    this.address = o.address.text;
    this.namespace = o.namespace || undefined;
    this.#ownsTransport = !o.transport;
    this.#transport = o.transport ?? createTransport(o.address, o);
    this.#timeoutMs = o.requestTimeoutMs ?? 10_000;
    this.#retries = o.retries ?? 2;
    this.#backoffMs = o.backoffMs ?? 200;
    this.#log = o.logger ?? silentLogger;
    if (o.address.insecure) {
      // Allowed by the installation (connection.allowInsecureHttp), but never quietly.
      this.#log.warn(
        "the store is reached over plain http: the ServiceAccount token and the secrets travel in clear",
        { address: this.address },
      );
    }
  }

  /** The token in use, for callers that cache it across clients of the same identity. */
  get token(): string | undefined {
    return this.#token;
  }

  set token(t: string | undefined) {
    this.#token = t;
  }

  /** Logs in through the Kubernetes auth method at `auth/<authPath>/login`. */
  async login(
    authPath: StorePath,
    role: string,
    jwt: string,
    signal?: AbortSignal,
  ): Promise<LoginResult> {
    const path = loginPath(authPath);
    const d: StoreErrorDetails = {
      address: this.address,
      operation: "login",
      path,
      namespace: this.namespace,
    };
    this.#jwt = jwt;
    const body = JSON.stringify({ role, jwt });
    const res = await this.#send("POST", storeUrl(this.#address, path), body, d, signal);
    const parsed = LoginResponse.safeParse(parseJson(res.body));
    if (!parsed.success) throw new StoreError("bad_response", "answer has no auth.client_token", d);
    this.#token = parsed.data.auth.client_token;
    this.#log.debug("logged in to the store", {
      path,
      role,
      lease_seconds: parsed.data.auth.lease_duration,
    });
    return {
      token: parsed.data.auth.client_token,
      leaseSeconds: parsed.data.auth.lease_duration,
      renewable: parsed.data.auth.renewable,
    };
  }

  /** Reads a secret; KV v2 paths include `data/`, and `version` selects `?version=N` there. */
  async read(path: StorePath, o: ReadOptions = {}): Promise<Secret> {
    const d: StoreErrorDetails = {
      address: this.address,
      operation: "read",
      path,
      version: o.version,
      namespace: this.namespace,
    };
    const query = new URLSearchParams();
    if (o.version !== undefined) query.set("version", String(o.version));
    const res = await this.#send(
      "GET",
      storeUrl(this.#address, path, query),
      undefined,
      d,
      o.signal,
    );
    const parsed = ReadResponse.safeParse(parseJson(res.body));
    if (!parsed.success || parsed.data.data === null) {
      throw new StoreError("bad_response", "answer has no data object", d);
    }
    const v2 = KvV2Data.safeParse(parsed.data.data);
    if (v2.success) {
      if (v2.data.data === null) {
        throw new StoreError("not_found", "version is deleted or destroyed", d);
      }
      return { path, version: o.version, kv: 2, data: v2.data.data };
    }
    if (o.version !== undefined) {
      throw new StoreError(
        "bad_request",
        "a version was asked for, but this is not a KV v2 path",
        d,
      );
    }
    return { path, kv: 1, data: parsed.data.data };
  }

  /** Closes pooled connections. */
  close(): void {
    if (this.#ownsTransport) this.#transport.close();
  }

  async #send(
    method: string,
    url: URL,
    body: string | undefined,
    d: StoreErrorDetails,
    signal?: AbortSignal,
  ): Promise<{ status: number; body: string }> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.#token && d.operation !== "login") headers["x-vault-token"] = this.#token;
    if (this.namespace) headers["x-vault-namespace"] = this.namespace;
    return await retry(
      async (attempt) => {
        if (attempt > 0) this.#log.debug("retrying store request", { path: d.path, attempt });
        let res;
        try {
          res = await this.#transport.request(
            method,
            url,
            headers,
            body,
            this.#timeoutMs,
            signal,
          );
        } catch (e) {
          if (e instanceof TransportError) {
            throw new StoreError(e.kind, e.message, {
              ...d,
              cause: e,
            });
          }
          throw e;
        }
        if (res.status >= 200 && res.status < 300) return res;
        throw new StoreError(kindOf(res.status), this.#reason(res), { ...d, status: res.status });
      },
      (e) => e instanceof StoreError && e.retryable,
      {
        retries: this.#retries,
        baseMs: this.#backoffMs,
        maxMs: 5_000,
        signal,
      },
    );
  }

  /** The server's own words, minus anything that echoes a credential back. */
  #reason(res: { status: number; body: string }): string {
    if (res.status >= 300 && res.status < 400) {
      return `redirected (HTTP ${res.status}), and redirects are not followed: give the address the store answers at`;
    }
    const parsed = ErrorBody.safeParse(parseJson(res.body));
    let text = parsed.success && parsed.data.errors?.length
      ? parsed.data.errors.join("; ")
      : `HTTP ${res.status}`;
    for (const secret of [this.#token, this.#jwt]) {
      if (secret) text = text.replaceAll(secret, "<redacted>");
    }
    text = text.length > 300 ? text.slice(0, 300) + "…" : text;
    return text === `HTTP ${res.status}` ? text : `${text} (HTTP ${res.status})`;
  }
}

function kindOf(status: number): StoreErrorKind {
  if (status === 404) return "not_found";
  if (status === 401 || status === 403) return "permission_denied";
  if (status === 429) return "rate_limited";
  if (status >= 500) return "server_error";
  if (status >= 400) return "bad_request";
  return "bad_response";
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** The value of `key` in a secret, as the environment or a file needs it: strings as they
 * are, other JSON values as JSON. */
export function secretValue(secret: Secret, key: string, address: string): string {
  if (!Object.hasOwn(secret.data, key)) {
    throw new StoreError("not_found", `no key "${key}" in the secret`, {
      address,
      operation: "read",
      path: secret.path,
      key,
      version: secret.version,
    });
  }
  const v = secret.data[key];
  return typeof v === "string" ? v : JSON.stringify(v);
}
