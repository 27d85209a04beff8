/** The leases of the dynamic secrets an app was started with (database credentials and the
 * like), kept alive in the watch modes for the app's life. Each is renewed at two thirds of
 * its duration, asking for its first duration again. A lease that will end is reported once,
 * through `onEnd`, early enough for the supervisor to stop the app before the store drops the
 * credentials: when the store refuses a renewal (at once: the lease may be gone already),
 * grants less than asked (the lease reached its maximum TTL) or says it cannot be renewed,
 * when transient failures use up the time it has left, and when the store token that read it
 * ends (the store revokes a token's leases with it). When the app stops for any other reason,
 * `revokeAll()` revokes them. */
import type { Logger } from "../log/logger.ts";
import type { Lease } from "../vault/answers.ts";
import type { StorePath } from "../config/store_path.ts";
import { type Clock, realClock } from "./clock.ts";
import { STOP_GRACE_MS } from "./supervise.ts";
import { retryUntil } from "./retry_until.ts";

/** The usual point to renew a lease (Vault's agent renews at two thirds too). */
export const RENEW_FRACTION = 2 / 3;

/** When to renew a lease of `leaseSeconds` granted now: undefined for none (not renewable or
 * never expiring). */
export function renewAfterMs(lease: { leaseSeconds: number; renewable: boolean }) {
  if (!lease.renewable || lease.leaseSeconds <= 0) return undefined;
  return Math.round(lease.leaseSeconds * 1000 * RENEW_FRACTION);
}

/** Before a lease's end, the time the app needs to stop: the supervisor's grace between SIGTERM
 * and SIGKILL, and a second for the kill itself. */
export const STOP_BEFORE_END_MS = STOP_GRACE_MS + 1_000;

/** How long before the end of a lease of `durationMs` the app is stopped: the whole stop time,
 * or for a short lease half the third left after its renewal point, so that a renewal still has
 * time to be tried before the stop comes due. */
export function stopBeforeEndMs(durationMs: number): number {
  return Math.min(STOP_BEFORE_END_MS, Math.round(durationMs * (1 - RENEW_FRACTION) / 2));
}

/** The two store calls the keeper makes; rejects with StoreError. */
export interface LeaseCalls {
  renew(leaseId: string, incrementSeconds: number, signal: AbortSignal): Promise<Lease>;
  revoke(leaseId: string, signal: AbortSignal): Promise<void>;
}

/** Which lease ends, and why, for the log and the restart. */
export interface LeaseEnd {
  path: StorePath;
  reason: string;
}

interface Kept {
  path: StorePath;
  id: string;
  /** The login the lease was read with (see tokenEnds()). */
  login: number;
}

export class LeaseKeeper {
  readonly #calls: LeaseCalls;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #requestTimeoutMs: number;
  readonly #stop = new AbortController();
  readonly #kept = new Map<string, Kept>();
  #login = 0;
  /** When the current login's token ends; Infinity while it is kept renewed. */
  #tokenEnd = Infinity;
  /** The earliest end scheduled, and a counter that voids the sleeps of later ones. */
  #stopAt = Infinity;
  #scheduled = 0;
  #ended: LeaseEnd | undefined;
  #onEnd: ((end: LeaseEnd) => void) | undefined;
  /** Renewals granted, for logs and tests. */
  renewals = 0;

  constructor(calls: LeaseCalls, log: Logger, clock: Clock = realClock, requestTimeoutMs = 10_000) {
    this.#calls = calls;
    this.#log = log;
    this.#clock = clock;
    this.#requestTimeoutMs = requestTimeoutMs;
  }

  /** Leases kept now. */
  get size(): number {
    return this.#kept.size;
  }

  /** Keeps `lease`, of the secret at `path`, granted at `grantedAt` (when its read was sent,
   * so every end is reckoned early rather than late). */
  keep(path: StorePath, lease: Lease, grantedAt: number): void {
    this.#kept.set(lease.id, { path, id: lease.id, login: this.#login });
    this.#log.info("a dynamic secret's lease is kept renewed while the app runs", {
      path,
      lease: lease.id,
      lease_seconds: lease.leaseSeconds,
      renewable: lease.renewable,
    });
    if (this.#tokenEnd !== Infinity) this.#tokenEnding(this.#tokenEnd);
    void this.#renewLoop(path, lease, grantedAt);
  }

  /** Calls `f` once, when a lease is about to end (at once if one already is). */
  onEnd(f: (end: LeaseEnd) => void): void {
    this.#onEnd = f;
    if (this.#ended) f(this.#ended);
  }

  /** The current login's token ends at `at` (it cannot be renewed, or is given up for a new
   * login): so do the leases read with it. */
  tokenEnds(at: number): void {
    this.#tokenEnd = Math.min(this.#tokenEnd, at);
    this.#tokenEnding(this.#tokenEnd);
  }

  /** A new login: leases read from now on end with its token, not with the last one. */
  newLogin(): void {
    this.#login++;
    this.#tokenEnd = Infinity;
  }

  /** Stops renewing and revokes every lease, each request bounded by `signal`; a failure is
   * logged, never thrown (a lease left behind ends at its TTL, or with its token). */
  async revokeAll(signal: AbortSignal): Promise<void> {
    this.stop();
    if (this.#kept.size === 0) return;
    const results = await Promise.allSettled(
      [...this.#kept.values()].map((k) => this.#calls.revoke(k.id, signal)),
    );
    const failed = results.flatMap((r) => r.status === "rejected" ? [r.reason as Error] : []);
    for (const e of failed) this.#log.debug("a lease was not revoked", { reason: e.message });
    this.#log.info("revoked the leases of the dynamic secrets", {
      revoked: results.length - failed.length,
      failed: failed.length,
    });
  }

  /** Ends every renewal and pending end. */
  stop(): void {
    this.#stop.abort();
  }

  async #renewLoop(path: StorePath, first: Lease, grantedAt: number): Promise<void> {
    // A lease granted with no duration has no end the store keeps (Vault's 0 is "no TTL"):
    // nothing to renew, and restarting the app for it would only loop.
    if (first.leaseSeconds === 0) return;
    // The first duration is what the role grants; asked again at each renewal, a shorter
    // answer means the lease's maximum TTL has come within it.
    const increment = first.leaseSeconds;
    const before = stopBeforeEndMs(increment * 1000);
    let lease = first;
    let at = grantedAt;
    for (;;) {
      const endsAt = at + lease.leaseSeconds * 1000;
      const after = renewAfterMs(lease);
      if (after === undefined) {
        const why = lease.leaseSeconds === 0
          ? "the store gave it no time"
          : "the store does not allow renewing it";
        return this.#ending({ path, reason: why }, endsAt - before);
      }
      if (lease !== first && lease.leaseSeconds < increment) {
        return this.#ending({ path, reason: "it reached its maximum TTL" }, endsAt - before);
      }
      if (!await this.#clock.sleep(at + after - this.#clock.now(), this.#stop.signal)) return;
      const renewed = await this.#renew(path, lease.id, increment, endsAt - before);
      if (!renewed) return;
      ({ lease, at } = renewed);
    }
  }

  /** One renewal, retried after transient failures until `stopAt`; undefined when stopped or
   * when the lease will end (then already scheduled). */
  async #renew(
    path: StorePath,
    id: string,
    increment: number,
    stopAt: number,
  ): Promise<{ lease: Lease; at: number } | undefined> {
    const r = await retryUntil((signal) => this.#calls.renew(id, increment, signal), {
      deadline: stopAt,
      requestTimeoutMs: this.#requestTimeoutMs,
      clock: this.#clock,
      stop: this.#stop.signal,
      onRetry: (reason) =>
        this.#log.debug("cannot renew a lease; retrying", { path, lease: id, reason }),
    });
    if (!r) return undefined;
    if (r.ok) {
      this.renewals++;
      this.#log.debug("renewed a lease", { path, lease: id, lease_seconds: r.value.leaseSeconds });
      return { lease: r.value, at: r.sentAt };
    }
    if (r.refused) {
      this.#ending({ path, reason: `the store refused to renew it: ${r.reason}` }, r.sentAt);
    } else this.#ending({ path, reason: `it could not be renewed in time: ${r.reason}` }, stopAt);
    return undefined;
  }

  #tokenEnding(at: number): void {
    const first = [...this.#kept.values()].find((k) => k.login === this.#login);
    if (!first) return;
    this.#ending(
      { path: first.path, reason: "the store token it was read with ends, and the lease with it" },
      at - STOP_BEFORE_END_MS,
    );
  }

  /** Schedules the end at `stopAt` (now if that has passed), unless an earlier one is. */
  #ending(end: LeaseEnd, stopAt: number): void {
    const now = this.#clock.now();
    const at = Math.max(now, stopAt);
    if (this.#ended || at >= this.#stopAt) return;
    this.#stopAt = at;
    const mine = ++this.#scheduled;
    this.#log.info("a dynamic secret's lease will end; the app is restarted before it does", {
      path: end.path,
      reason: end.reason,
      restart_in_ms: at - now,
    });
    void this.#clock.sleep(at - now, this.#stop.signal).then((ok) => {
      if (!ok || mine !== this.#scheduled || this.#ended) return;
      this.#ended = end;
      this.#onEnd?.(end);
    });
  }
}
