/** What went wrong talking to the store, as a caller needs to act on it. */
import type { StoreOperation } from "./requests.ts";

export type StoreErrorKind =
  | "not_found" // path, version or key does not exist
  | "permission_denied" // 403: the role or policy does not allow it
  | "bad_request" // 400: e.g. unknown role, malformed path
  | "rate_limited" // 429 after retries
  | "server_error" // 5xx after retries
  | "timeout" // no answer in time
  | "tls" // certificate could not be verified
  | "unreachable" // connection refused, DNS, reset
  | "bad_response"; // the answer is not what the API promises

export type { StoreOperation };

export interface StoreErrorDetails {
  address: string;
  operation: StoreOperation;
  /** API path after /v1/, e.g. "demo-kv/data/myapp-secret" or "auth/kubernetes_local/login". */
  path: string;
  key?: string | undefined;
  version?: number | undefined;
  /** The lease a lease operation was about (an id, not a secret: it lets only a token allowed
   * to renew or revoke act on it). */
  lease?: string | undefined;
  namespace?: string | undefined;
  status?: number | undefined;
  cause?: unknown;
  /** Which of the caller's settings to check, e.g. "check SECRETS_STORE_ADDR"; ends the
   * message in parentheses. */
  hint?: string;
}

/** Every failure of the store client. Messages name address, path and key; never a value or token. */
export class StoreError extends Error {
  override name = "StoreError";
  readonly kind: StoreErrorKind;
  readonly address: string;
  readonly operation: StoreOperation;
  readonly path: string;
  readonly key?: string | undefined;
  readonly version?: number | undefined;
  readonly namespace?: string | undefined;
  readonly status?: number | undefined;
  /** The server's or transport's own words, as given to the constructor. */
  readonly reason: string;
  readonly details: StoreErrorDetails;

  constructor(kind: StoreErrorKind, reason: string, d: StoreErrorDetails) {
    super(describe(kind, reason, d), { cause: d.cause });
    this.reason = reason;
    this.details = d;
    this.kind = kind;
    this.address = d.address;
    this.operation = d.operation;
    this.path = d.path;
    this.key = d.key;
    this.version = d.version;
    this.namespace = d.namespace;
    this.status = d.status;
  }

  /** The same error, its message ending with which settings to check. */
  withHint(hint: string): StoreError {
    return new StoreError(this.kind, this.reason, { ...this.details, hint });
  }

  /** True for failures worth another attempt (network, 429, 5xx). */
  get retryable(): boolean {
    return this.kind === "unreachable" || this.kind === "timeout" ||
      this.kind === "rate_limited" || this.kind === "server_error";
  }
}

function describe(kind: StoreErrorKind, reason: string, d: StoreErrorDetails): string {
  const what = d.operation === "login"
    ? `Cannot log in at ${d.path}`
    : d.operation === "renew"
    ? `Cannot renew the store token at ${d.path}`
    : d.operation === "revoke"
    ? `Cannot revoke the store token at ${d.path}`
    : d.operation === "renew_lease"
    ? `Cannot renew the lease ${d.lease} at ${d.path}`
    : d.operation === "revoke_lease"
    ? `Cannot revoke the lease ${d.lease} at ${d.path}`
    : d.operation === "write"
    ? `Cannot write ${d.path}`
    : `Cannot read ${d.path}${d.version !== undefined ? ` version ${d.version}` : ""}` +
      (d.key !== undefined ? ` key "${d.key}"` : "");
  const where = `${d.address}${d.namespace ? ` (namespace "${d.namespace}")` : ""}`;
  return `${what} from ${where}: ${kind.replaceAll("_", " ")}: ${reason}` +
    (d.hint ? ` (${d.hint})` : "");
}
