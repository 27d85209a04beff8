/** Every request the store client sends, as its callers count them: the CSI driver's metrics
 * (by role) and the injector's one log line at exit. One request is one HTTP exchange, each
 * retry included, so the counts are what the store itself sees (its audit log). */
import type { StoreErrorKind } from "./errors.ts";

/** What a request asks for: "renew" and "revoke" are the store token's own, the lease ones a
 * dynamic secret's. The engine lookup before a mount's first read counts as a read. */
export const STORE_OPERATIONS = [
  "login",
  "read",
  "write",
  "renew",
  "revoke",
  "renew_lease",
  "revoke_lease",
] as const;
export type StoreOperation = typeof STORE_OPERATIONS[number];

/** How it ended, coarser than StoreErrorKind so that a dashboard needs few series: `denied`
 * (401, 403), `not_found` (404), `rate_limited` (429), `unreachable` (no answer: refused,
 * reset, timed out, TLS), `error` (any other answer: 400, 5xx). */
export const REQUEST_OUTCOMES = [
  "ok",
  "denied",
  "not_found",
  "rate_limited",
  "unreachable",
  "error",
] as const;
export type RequestOutcome = typeof REQUEST_OUTCOMES[number];

/** Told of each request once it has ended; `seconds` from sending it to its answer. */
export type RequestObserver = (
  operation: StoreOperation,
  outcome: RequestOutcome,
  seconds: number,
) => void;

/** The outcome of a request that failed with `kind`, or `ok` for one that did not fail. */
export function requestOutcome(kind: StoreErrorKind | undefined): RequestOutcome {
  switch (kind) {
    case undefined:
      return "ok";
    case "permission_denied":
      return "denied";
    case "not_found":
    case "rate_limited":
      return kind;
    case "timeout":
    case "tls":
    case "unreachable":
      return "unreachable";
    default:
      return "error";
  }
}

/** Counts by operation and outcome, for a process that cannot be scraped (the injector). */
export class RequestTally {
  readonly #counts = new Map<string, number>();

  readonly observe: RequestObserver = (operation, outcome) => {
    const key = `${operation}_${outcome}`;
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
  };

  /** Every count that is not zero, as `<operation>_<outcome>`, with their sum as `requests`. */
  fields(): Record<string, number> {
    const out: Record<string, number> = { requests: 0 };
    for (const op of STORE_OPERATIONS) {
      for (const outcome of REQUEST_OUTCOMES) {
        const n = this.#counts.get(`${op}_${outcome}`);
        if (n) (out[`${op}_${outcome}`] = n, out.requests! += n);
      }
    }
    return out;
  }
}
