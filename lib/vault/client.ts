/** A small client for the parts of the Vault HTTP API this product uses: Kubernetes-auth
 * login, KV v1/v2 reads and the writes of write references. Works against Stronghold, HashiCorp Vault and OpenBao.
 *
 * Which KV engine serves a path is learned the way the store's own CLI learns it before a
 * `kv get`: `GET sys/internal/ui/mounts/<path>`, once per mount for the client's life (cached
 * by the mount path the answer names). The store allows it to any token with a capability
 * under the mount, so the guide's read-only policy needs nothing more. Only when the store
 * refuses to say (403, 400, or 404 from a store or proxy without the endpoint) is the engine
 * told from the answer's shape, once per path; other failures (unreachable, 5xx after
 * retries) fail the read, as the read itself would.
 *
 * A dynamic secret's lease is renewed and revoked through `sys/leases/renew` and
 * `sys/leases/revoke`, the lease id in the body. */
import type { Logger } from "../log/logger.ts";
import { silentLogger } from "../log/logger.ts";
import { StoreError, type StoreErrorDetails, type StoreErrorKind } from "./errors.ts";
import { retry } from "./retry.ts";
import { type RequestObserver, type RequestOutcome, requestOutcome } from "./requests.ts";
import {
  answerWarnings,
  errorAnswer,
  type GoneVersion,
  goneVersion,
  kvV2Data,
  type Lease,
  leaseAnswer,
  loginAnswer,
  mountAnswer,
  readAnswerData,
} from "./answers.ts";
import { type StoreAddress, storeUrl } from "../config/store_address.ts";
import { loginPath, mountInfoPath, parseStorePath, type StorePath } from "../config/store_path.ts";
import {
  createTransport,
  type TlsOptions,
  type Transport,
  TransportError,
} from "../http/transport.ts";

export interface StoreClientOptions extends TlsOptions {
  /** Checked base address, e.g. https://stronghold.d8-stronghold.svc:8300 or
   * https://proxy.example/vault (the prefix is kept on every request). */
  address: StoreAddress;
  /** Store namespace, sent as X-Vault-Namespace. */
  namespace?: string | undefined;
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
  /** Told of every request sent (each retry too), never of its content. */
  observe?: RequestObserver | undefined;
}

export interface LoginResult {
  token: string;
  /** Seconds the token is valid for, from the time of login. */
  leaseSeconds: number;
  renewable: boolean;
}

export interface Secret {
  path: StorePath;
  version?: number | undefined;
  /** Which KV engine answered: the mount's, or told from the answer's shape when the store
   * would not say which engine serves the path. */
  kv: 1 | 2;
  data: Record<string, unknown>;
  /** A dynamic secret's lease (database credentials and the like): every read issues anew. */
  lease?: Lease;
}

export interface ReadOptions {
  version?: number | undefined;
  signal?: AbortSignal | undefined;
}

/** The engine serving a mount, from sys/internal/ui/mounts. */
interface Mount {
  /** e.g. "demo-kv/", always ending in "/". */
  path: string;
  /** 2 for a KV v2 mount; 1 for KV v1 and every other engine (their answers' data is the
   * secret). */
  kv: 1 | 2;
}

const RENEW_SELF = parseStorePath("auth/token/renew-self");
const REVOKE_SELF = parseStorePath("auth/token/revoke-self");
const LEASE_RENEW = parseStorePath("sys/leases/renew");
const LEASE_REVOKE = parseStorePath("sys/leases/revoke");

/** KV v2 endpoints other than data/, which a path may name by mistake. */
const KV2_ENDPOINTS = new Set(["metadata", "delete", "undelete", "destroy", "subkeys"]);

/** Client for one store address; holds the token of its last login in memory only. */
export class StoreClient {
  /** origin + prefix, how messages name the store. */
  readonly address: string;
  readonly namespace?: string | undefined;
  readonly #address: StoreAddress;
  #token: string | undefined;
  #jwt?: string;
  readonly #transport: Transport;
  readonly #ownsTransport: boolean;
  readonly #timeoutMs: number;
  readonly #retries: number;
  readonly #backoffMs: number;
  readonly #log: Logger;
  readonly #observe: RequestObserver | undefined;
  /** Mount path ("demo-kv/") to its engine, for the client's life. */
  readonly #mounts = new Map<string, Mount>();
  /** Paths whose engine the store would not say: told by the answer's shape. */
  readonly #unsaid = new Set<string>();
  #lookups: Promise<unknown> = Promise.resolve();

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
    this.#observe = o.observe;
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
    const auth = loginAnswer(parseJson(res.body));
    if (!auth) throw new StoreError("bad_response", "answer has no auth.client_token", d);
    this.#token = auth.token;
    this.#log.debug("logged in to the store", { path, role, lease_seconds: auth.leaseSeconds });
    return auth;
  }

  /** Renews the token of the last login (`auth/token/renew-self`), for a caller that keeps one
   * login for a long life (the injector's supervisor); the answer is the token's new lease. */
  async renewSelf(signal?: AbortSignal): Promise<LoginResult> {
    const path = RENEW_SELF;
    const d: StoreErrorDetails = {
      address: this.address,
      operation: "renew",
      path,
      namespace: this.namespace,
    };
    const res = await this.#send("POST", storeUrl(this.#address, path), "{}", d, signal);
    const auth = loginAnswer(parseJson(res.body));
    if (!auth) throw new StoreError("bad_response", "answer has no auth.client_token", d);
    return auth;
  }

  /** Revokes a store token no longer needed (`auth/token/revoke-self`), so it does not live
   * on in the store for the rest of its TTL: the last login's, or `token` when given (the CSI
   * pool revokes a replaced login's while the new one is in use). One request, never retried:
   * the caller bounds it with `signal`, and a token left behind still expires. */
  async revokeSelf(o: { token?: string | undefined; signal?: AbortSignal | undefined } = {}) {
    const path = REVOKE_SELF;
    const token = o.token ?? this.#token;
    if (!token) return;
    const d: StoreErrorDetails = {
      address: this.address,
      operation: "revoke",
      path,
      namespace: this.namespace,
    };
    await this.#send("POST", storeUrl(this.#address, path), "{}", d, o.signal, {
      token,
      retries: 0,
    });
    if (token === this.#token) this.#token = undefined;
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
    const mount = await this.#mountOf(path, o.signal);
    if (mount?.kv === 2 && !path.slice(mount.path.length).startsWith("data/")) {
      const rest = path.slice(mount.path.length).split("/");
      if (KV2_ENDPOINTS.has(rest[0]!) && rest.length > 1) rest.shift();
      throw new StoreError(
        "bad_request",
        `${mount.path} is a KV v2 mount, where secrets are read at ${mount.path}data/<name>: use ${mount.path}data/${
          rest.join("/")
        }`,
        d,
      );
    }
    if (mount?.kv === 1 && o.version !== undefined) {
      throw new StoreError(
        "bad_request",
        `a version was asked for, but ${mount.path} is a KV v1 mount, which keeps no versions`,
        d,
      );
    }
    const query = new URLSearchParams();
    if (o.version !== undefined) query.set("version", String(o.version));
    const res = await this.#send(
      "GET",
      storeUrl(this.#address, path, query),
      undefined,
      d,
      o.signal,
    );
    const body = parseJson(res.body);
    this.#logWarnings(path, body);
    const data = readAnswerData(body);
    if (!data) throw new StoreError("bad_response", "answer has no data object", d);
    // The mount's engine decides; the shape only when the store would not say.
    const v2 = mount?.kv === 1 ? undefined : kvV2Data(data);
    if (mount?.kv === 2 && !v2) {
      throw new StoreError("bad_response", "a KV v2 answer without data.data and data.metadata", d);
    }
    if (v2) {
      if (v2.data === null) {
        throw new StoreError("not_found", "version is deleted or destroyed", d);
      }
      return { path, version: o.version, kv: 2, data: v2.data };
    }
    if (o.version !== undefined) {
      throw new StoreError(
        "bad_request",
        "a version was asked for, but this is not a KV v2 path",
        d,
      );
    }
    // A dynamic secret's lease: the watch modes read such a secret once and renew its lease.
    return withLease(path, data, body, d);
  }

  /** Renews a dynamic secret's lease (`sys/leases/renew`, which the store's default policy
   * allows), asking for `increment` seconds from now when given; the answer is the lease as
   * renewed, which the store caps at the lease's maximum TTL. One request, never retried here:
   * the caller retries within the time the lease has left. */
  async renewLease(
    leaseId: string,
    o: { increment?: number | undefined; signal?: AbortSignal | undefined } = {},
  ): Promise<Lease> {
    const d = this.#leaseDetails("renew_lease", LEASE_RENEW, leaseId);
    const body = JSON.stringify(
      o.increment === undefined
        ? { lease_id: leaseId }
        : { lease_id: leaseId, increment: o.increment },
    );
    const res = await this.#send("PUT", storeUrl(this.#address, LEASE_RENEW), body, d, o.signal, {
      retries: 0,
    });
    const answer = parseJson(res.body);
    this.#logWarnings(LEASE_RENEW, answer);
    const lease = leaseAnswer(answer);
    // Another lease in the answer would be a proxy's mix-up, not a renewal of this one.
    if (!lease || lease.id !== leaseId) {
      throw new StoreError("bad_response", "the answer does not name the lease renewed", d);
    }
    return lease;
  }

  /** Revokes a dynamic secret's lease (`sys/leases/revoke`: the store drops the credentials
   * now). The store's default policy does not allow it; the role's policy must, with `update`
   * on `sys/leases/revoke`. One request, never retried: the caller bounds it with `signal`,
   * and a lease left behind still ends at its TTL, or with the token that made it. */
  async revokeLease(leaseId: string, o: { signal?: AbortSignal | undefined } = {}): Promise<void> {
    const d = this.#leaseDetails("revoke_lease", LEASE_REVOKE, leaseId);
    const body = JSON.stringify({ lease_id: leaseId });
    await this.#send("PUT", storeUrl(this.#address, LEASE_REVOKE), body, d, o.signal, {
      retries: 0,
    });
  }

  #leaseDetails(operation: "renew_lease" | "revoke_lease", path: StorePath, lease: string) {
    return { address: this.address, operation, path, lease, namespace: this.namespace };
  }

  /** Sends one write (`POST <path>` with a JSON object, e.g. a PKI issue) and returns the
   * answer's data. A write is not idempotent (each PKI issue is a new certificate), so it is
   * tried again only when it certainly never reached the store (the connection was not made);
   * a 5xx, a timeout or a connection lost after sending fails at once. */
  async write(path: StorePath, body: string, o: { signal?: AbortSignal } = {}): Promise<Secret> {
    const d: StoreErrorDetails = {
      address: this.address,
      operation: "write",
      path,
      namespace: this.namespace,
    };
    const res = await this.#send("POST", storeUrl(this.#address, path), body, d, o.signal, {
      retryIf: (e) => e.cause instanceof TransportError && e.cause.notSent,
    });
    const answer = parseJson(res.body);
    this.#logWarnings(path, answer);
    const data = readAnswerData(answer);
    if (!data) throw new StoreError("bad_response", "answer has no data object", d);
    // A write may be leased too (a PKI role with generate_lease): kept and revoked as a read's.
    return withLease(path, data, answer, d);
  }

  /** The mount serving `path`, from the cache or asked once; undefined when the store will
   * not say. Lookups run one at a time, so the first reads of one mount, started together,
   * ask once. */
  async #mountOf(path: StorePath, signal?: AbortSignal): Promise<Mount | undefined> {
    const cached = () => {
      let best: Mount | undefined;
      for (const m of this.#mounts.values()) {
        if ((path + "/").startsWith(m.path) && m.path.length > (best?.path.length ?? 0)) best = m;
      }
      return best;
    };
    if (cached() || this.#unsaid.has(path)) return cached();
    const lookup = this.#lookups.then(async () => {
      if (cached() || this.#unsaid.has(path)) return cached();
      return await this.#askMount(path, signal);
    });
    this.#lookups = lookup.catch(() => undefined);
    return await lookup;
  }

  async #askMount(path: StorePath, signal?: AbortSignal): Promise<Mount | undefined> {
    const asked = mountInfoPath(path);
    const d: StoreErrorDetails = {
      address: this.address,
      operation: "read",
      path: asked,
      namespace: this.namespace,
    };
    let res;
    try {
      res = await this.#send("GET", storeUrl(this.#address, asked), undefined, d, signal);
    } catch (e) {
      // Refused (403), unknown to this store or a gateway in front (404), or not understood
      // (400): the read itself will answer, or explain, for the path.
      const refused = ["permission_denied", "not_found", "bad_request"];
      if (!(e instanceof StoreError && refused.includes(e.kind))) {
        throw e;
      }
      this.#unsaid.add(path);
      this.#log.debug("the store did not say which engine serves the path; told by the answer", {
        path,
        reason: e.message,
      });
      return undefined;
    }
    const a = mountAnswer(parseJson(res.body));
    if (!a) {
      this.#unsaid.add(path);
      this.#log.debug("the store's mount answer is not understood; told by the answer", { path });
      return undefined;
    }
    const mount: Mount = {
      path: a.path.endsWith("/") ? a.path : `${a.path}/`,
      kv: a.type === "kv" && String(a.options?.version ?? "1") === "2" ? 2 : 1,
    };
    this.#mounts.set(mount.path, mount);
    this.#log.debug("learned the engine of a mount", {
      mount: mount.path,
      type: a.type,
      kv: mount.kv,
    });
    return mount;
  }

  /** The store's warnings on a successful answer, logged (server text, never a value). */
  #logWarnings(path: StorePath, body: unknown): void {
    for (const warning of answerWarnings(body)) {
      this.#log.warn("the store answered with a warning", { path, warning: this.#clean(warning) });
    }
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
    o: { token?: string; retries?: number; retryIf?: (e: StoreError) => boolean } = {},
  ): Promise<{ status: number; body: string }> {
    const headers: Record<string, string> = { accept: "application/json" };
    const token = o.token ?? this.#token;
    if (token && d.operation !== "login") headers["x-vault-token"] = token;
    if (this.namespace) headers["x-vault-namespace"] = this.namespace;
    return await retry(
      async (attempt) => {
        if (attempt > 0) this.#log.debug("retrying store request", { path: d.path, attempt });
        const started = performance.now();
        const observed = (outcome: RequestOutcome) =>
          this.#observe?.(d.operation, outcome, (performance.now() - started) / 1000);
        let res;
        try {
          res = await this.#transport.request({
            method,
            url,
            headers,
            body,
            timeoutMs: this.#timeoutMs,
            signal,
          });
        } catch (e) {
          if (e instanceof TransportError) {
            observed(requestOutcome(e.kind));
            throw new StoreError(e.kind, e.message, {
              ...d,
              cause: e,
            });
          }
          observed("error");
          throw e;
        }
        if (res.status >= 200 && res.status < 300) {
          observed("ok");
          return res;
        }
        observed(requestOutcome(kindOf(res.status)));
        throw new StoreError(kindOf(res.status), this.#reason(res, token), {
          ...d,
          status: res.status,
        });
      },
      (e) => e instanceof StoreError && (o.retryIf ? o.retryIf(e) : e.retryable),
      {
        retries: o.retries ?? this.#retries,
        baseMs: this.#backoffMs,
        maxMs: 5_000,
        signal,
      },
    );
  }

  /** The server's own words from the whole answer (errors, warnings, a KV v2 version's
   * metadata), minus anything that echoes a credential back: the client's own and `used`, the
   * token this request was sent with (a caller may pass one that is not the client's). */
  #reason(res: { status: number; body: string }, used: string | undefined): string {
    if (res.status >= 300 && res.status < 400) {
      return `redirected (HTTP ${res.status}), and redirects are not followed: give the address the store answers at`;
    }
    const body = parseJson(res.body);
    const parsed = errorAnswer(body);
    const words = (parsed?.errors ?? []).map((e) => e.trim()).filter((e) => e);
    const gone = res.status === 404 ? goneVersion(body) : undefined;
    if (gone) words.unshift(describeGone(gone));
    for (const w of parsed?.warnings ?? []) {
      words.push(`store warning: ${w}`);
    }
    return words.length
      ? `${this.#clean(words.join("; "), used)} (HTTP ${res.status})`
      : `HTTP ${res.status}`;
  }

  /** Server text for a message or a log line: no credential, at most 300 characters. */
  #clean(text: string, used?: string): string {
    for (const secret of [this.#token, this.#jwt, used]) {
      if (secret) text = text.replaceAll(secret, "<redacted>");
    }
    return text.length > 300 ? text.slice(0, 300) + "…" : text;
  }
}

/** Why a KV v2 version answered 404: deleted (when) or destroyed. */
function describeGone(m: GoneVersion) {
  if (m.destroyed) return `version ${m.version} was destroyed; its data is gone`;
  if (m.deletion_time) {
    return `version ${m.version} was deleted at ${m.deletion_time} (it can be undeleted)`;
  }
  return `version ${m.version} does not exist`;
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

/** A KV v1 or dynamic answer's data with the lease it names, if any. */
function withLease(
  path: StorePath,
  data: Secret["data"],
  answer: unknown,
  d: StoreErrorDetails,
): Secret {
  const lease = leaseAnswer(answer);
  if (lease === undefined) {
    throw new StoreError(
      "bad_response",
      "the answer's lease_id, lease_duration or renewable is malformed",
      d,
    );
  }
  return lease ? { path, kv: 1, data, lease } : { path, kv: 1, data };
}
