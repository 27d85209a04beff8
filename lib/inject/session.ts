/** The store as a SecretSource that stays logged in for the app's whole life (watch modes):
 * one login, renewed at two thirds of its lease (a renewal that fails transiently retried while
 * the token has time left), and a new login, with the token file read afresh (the kubelet
 * rotates projected tokens), when renewal is refused or its retries ran out, when the lease has
 * run out, or when a read is refused (403: the token was revoked or expired early). The
 * leases of dynamic secrets it reads are kept in `leases` (leases.ts); since the store
 * revokes a token's leases with it, `leases` learns when a token they were read with ends. */
import type { Logger } from "../log/logger.ts";
import type { LoginResult, Secret, StoreClient } from "../vault/client.ts";
import { StoreError } from "../vault/errors.ts";
import type { RequestObserver } from "../vault/requests.ts";
import { readKey, type StorePath } from "../config/store_path.ts";
import type { InjectorSettings } from "./settings.ts";
import type { SecretSource } from "./source.ts";
import { readToken, settingsToCheck, storeClient } from "./store_source.ts";
import { type Clock, realClock } from "./clock.ts";
import { LeaseKeeper, RENEW_FRACTION, renewAfterMs, STOP_BEFORE_END_MS } from "./leases.ts";
import { retryUntil } from "./retry_until.ts";

/** A renewal that grants less than this share of the lease before it has reached the token's
 * maximum TTL: renewing again would come ever sooner, so the next step is a new login. */
const SHRUNK = RENEW_FRACTION;

export class KeptLogin implements SecretSource {
  readonly name: string;
  #expiresAt = 0;
  /** When the current token ends (#expiresAt is cleared to force a new login). */
  #tokenEnd = Infinity;
  #lastLease = 0;
  #renewNext = false;
  #login: Promise<void> | undefined;
  /** Ends the pending renewal of the current token (a new grant replaces it), and with
   * #stop all of them: at most one renewal in flight. */
  #renewal = new AbortController();
  /** Dynamic secrets as first read, by readKey(). */
  readonly #leased = new Map<string, Secret>();
  readonly #stop = new AbortController();
  readonly #client: StoreClient;
  readonly #login0: (signal?: AbortSignal) => Promise<LoginResult>;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #requestTimeoutMs: number;
  /** Logins made, for logs and tests. */
  logins = 0;
  renewals = 0;
  /** The leases of the dynamic secrets read. */
  readonly leases: LeaseKeeper;

  constructor(
    client: StoreClient,
    login: (signal?: AbortSignal) => Promise<LoginResult>,
    log: Logger,
    clock: Clock = realClock,
    requestTimeoutMs = 10_000,
  ) {
    this.name = client.address;
    this.#client = client;
    this.#login0 = login;
    this.#log = log;
    this.#clock = clock;
    this.#requestTimeoutMs = requestTimeoutMs;
    this.leases = new LeaseKeeper(
      {
        renew: (id, increment, signal) => client.renewLease(id, { increment, signal }),
        revoke: (id, signal) => client.revokeLease(id, { signal }),
      },
      log,
      clock,
      requestTimeoutMs,
    );
  }

  async read(path: StorePath, version: number | undefined, signal: AbortSignal): Promise<Secret> {
    const key = readKey(path, version);
    const leased = this.#leased.get(key);
    if (leased) return leased;
    const sentAt = this.#clock.now();
    const secret = await this.#read(path, version, signal);
    if (secret.lease) {
      // Read again, a dynamic secret would be issued anew (new credentials, a new lease) and
      // look like a change at every poll: it is read once, and its lease kept renewed.
      this.#leased.set(key, secret);
      this.leases.keep(path, secret.lease, sentAt);
    }
    return secret;
  }

  async #read(path: StorePath, version: number | undefined, signal: AbortSignal): Promise<Secret> {
    const options = version === undefined ? { signal } : { version, signal };
    try {
      if (this.#clock.now() >= this.#expiresAt) await this.#relogin(signal);
      try {
        return await this.#client.read(path, options);
      } catch (e) {
        if (!(e instanceof StoreError && e.kind === "permission_denied")) throw e;
        // Refused: the token may be gone before its time; one fresh login, then one more try.
        this.#expiresAt = 0;
        await this.#relogin(signal);
        return await this.#client.read(path, options);
      }
    } catch (e) {
      const hint = e instanceof StoreError ? settingsToCheck(e) : undefined;
      throw hint ? (e as StoreError).withHint(hint) : e;
    }
  }

  /** A write reference's one write, at start only (polls skip writes, resolve.ts). Never
   * retried after a refusal, unlike a read: the store may have applied it. */
  async write(path: StorePath, body: string, signal: AbortSignal): Promise<Secret> {
    try {
      if (this.#clock.now() >= this.#expiresAt) await this.#relogin(signal);
      const sentAt = this.#clock.now();
      const answer = await this.#client.write(path, body, { signal });
      if (answer.lease) this.leases.keep(path, answer.lease, sentAt);
      return answer;
    } catch (e) {
      const hint = e instanceof StoreError ? settingsToCheck(e) : undefined;
      throw hint ? (e as StoreError).withHint(hint) : e;
    }
  }

  /** The kept token (secrets-store:login), after a new login if it ran out: a poll then sees
   * another token, a change that restarts the app, whose copy is dead. */
  async token(signal: AbortSignal): Promise<string> {
    if (this.#clock.now() >= this.#expiresAt) await this.#relogin(signal);
    const token = this.#client.token;
    if (token === undefined) throw new Error("no store token: the login did not finish");
    return token;
  }

  /** One login at a time; callers that arrive meanwhile share it. */
  #relogin(signal?: AbortSignal): Promise<void> {
    return this.#login ??= (async () => {
      try {
        // The token given up ends at its time, and the leases read with it.
        if (this.logins > 0) this.leases.tokenEnds(this.#tokenEnd);
        const r = await this.#login0(signal);
        this.logins++;
        this.leases.newLogin();
        this.#granted(r);
      } finally {
        this.#login = undefined;
      }
    })();
  }

  /** `r` granted at `at` (for a renewal, when it was sent: the token's end is reckoned early). */
  #granted(r: LoginResult, at = this.#clock.now()): void {
    this.#expiresAt = r.leaseSeconds > 0 ? at + r.leaseSeconds * 1000 : Infinity;
    this.#tokenEnd = this.#expiresAt;
    this.#lastLease = r.leaseSeconds;
    // A login while a renewal is pending (after a refused read) ends that renewal.
    this.#renewal.abort();
    this.#renewal = new AbortController();
    const after = renewAfterMs(r);
    if (after !== undefined) {
      void this.#renewLater(after, AbortSignal.any([this.#stop.signal, this.#renewal.signal]));
    } else this.leases.tokenEnds(this.#tokenEnd);
  }

  async #renewLater(ms: number, stop: AbortSignal): Promise<void> {
    if (!await this.#clock.sleep(ms, stop)) return;
    if (this.#renewNext) return this.#giveUp("the token reached its maximum TTL");
    const previous = this.#lastLease;
    // Retried while the token has time left before the leases read with it must be stopped
    // for (a token too short for that margin: until its end).
    const stopAt = this.#tokenEnd - STOP_BEFORE_END_MS;
    const r = await retryUntil((signal) => this.#client.renewSelf(signal), {
      deadline: stopAt > this.#clock.now() ? stopAt : this.#tokenEnd,
      requestTimeoutMs: this.#requestTimeoutMs,
      clock: this.#clock,
      stop,
      onRetry: (reason) => this.#log.debug("cannot renew the store token; retrying", { reason }),
    });
    if (!r) return;
    if (!r.ok) return this.#giveUp(r.reason, r.attempts);
    this.renewals++;
    this.#renewNext = r.value.leaseSeconds < previous * SHRUNK;
    this.#granted(r.value, r.sentAt);
    if (this.#renewNext) this.leases.tokenEnds(this.#tokenEnd);
    this.#log.debug("renewed the store token", { lease_seconds: r.value.leaseSeconds });
  }

  /** The token is given up: it ends at its time, and with it the leases read with it. */
  #giveUp(reason: string, attempts = 0): void {
    this.#renewNext = false;
    this.leases.tokenEnds(this.#tokenEnd);
    // The next read logs in again, with the token file read afresh.
    this.#expiresAt = 0;
    this.#log.info("the store token is not renewed; the next poll logs in again", {
      reason,
      attempts,
    });
  }

  /** Revokes the kept token, at the supervisor's end; renewals stop first, so none races it. */
  async revoke(signal: AbortSignal): Promise<void> {
    this.#stop.abort();
    this.leases.stop();
    await this.#login?.catch(() => undefined);
    await this.#client.revokeSelf({ signal });
  }

  close(): void {
    this.#stop.abort();
    this.leases.stop();
    this.#client.close();
  }
}

/** KeptLogin for the settings' store, logging in with the settings' token file and role. */
export function keptLoginSource(
  s: InjectorSettings,
  logger: Logger,
  observe?: RequestObserver,
): KeptLogin {
  const { client, role } = storeClient(s, logger, observe);
  return new KeptLogin(
    client,
    async (signal) => client.login(s.authPath, role, await readToken(s.tokenFile), signal),
    logger,
    realClock,
    s.clientTimeoutMs,
  );
}
