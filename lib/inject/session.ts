/** The store as a SecretSource that stays logged in for the app's whole life (watch modes):
 * one login, renewed at two thirds of its lease, and a new login, with the token file read
 * afresh (the kubelet rotates projected tokens), when renewal is refused, when the lease has
 * run out, or when a read is refused (403: the token was revoked or expired early). */
import type { Logger } from "../log/logger.ts";
import type { LoginResult, Secret, StoreClient } from "../vault/client.ts";
import { StoreError } from "../vault/errors.ts";
import type { RequestObserver } from "../vault/requests.ts";
import { readKey, type StorePath } from "../config/store_path.ts";
import type { InjectorSettings } from "./settings.ts";
import type { SecretSource } from "./source.ts";
import { readToken, settingsToCheck, storeClient } from "./store_source.ts";
import { type Clock, realClock } from "./clock.ts";

/** The usual point to renew a lease (Vault's agent renews at two thirds too). */
export const RENEW_FRACTION = 2 / 3;

/** When to renew a lease of `leaseSeconds` granted now: undefined for none (not renewable or
 * never expiring). */
export function renewAfterMs(lease: { leaseSeconds: number; renewable: boolean }) {
  if (!lease.renewable || lease.leaseSeconds <= 0) return undefined;
  return Math.round(lease.leaseSeconds * 1000 * RENEW_FRACTION);
}

/** A renewal that grants less than this share of the lease before it has reached the token's
 * maximum TTL: renewing again would come ever sooner, so the next step is a new login. */
const SHRUNK = RENEW_FRACTION;

export class KeptLogin implements SecretSource {
  readonly name: string;
  #expiresAt = 0;
  #lastLease = 0;
  #renewNext = false;
  #login: Promise<void> | undefined;
  /** Dynamic secrets as first read, by readKey(). */
  readonly #leased = new Map<string, Secret>();
  readonly #stop = new AbortController();
  readonly #client: StoreClient;
  readonly #login0: (signal?: AbortSignal) => Promise<LoginResult>;
  readonly #log: Logger;
  readonly #clock: Clock;
  /** Logins made, for logs and tests. */
  logins = 0;
  renewals = 0;

  constructor(
    client: StoreClient,
    login: (signal?: AbortSignal) => Promise<LoginResult>,
    log: Logger,
    clock: Clock = realClock,
  ) {
    this.name = client.address;
    this.#client = client;
    this.#login0 = login;
    this.#log = log;
    this.#clock = clock;
  }

  async read(path: StorePath, version: number | undefined, signal: AbortSignal): Promise<Secret> {
    const key = readKey(path, version);
    const leased = this.#leased.get(key);
    if (leased) return leased;
    const secret = await this.#read(path, version, signal);
    if (secret.leaseId !== undefined) {
      // Read again, a dynamic secret would be issued anew (new credentials, a new lease) and
      // look like a change at every poll: it is read once, and its lease is left to run.
      this.#leased.set(key, secret);
      this.#log.warn(
        "a dynamic secret (with a lease) is read once and not watched; its lease is not renewed",
        { path },
      );
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

  /** One login at a time; callers that arrive meanwhile share it. */
  #relogin(signal?: AbortSignal): Promise<void> {
    return this.#login ??= (async () => {
      try {
        const r = await this.#login0(signal);
        this.logins++;
        this.#granted(r);
      } finally {
        this.#login = undefined;
      }
    })();
  }

  #granted(r: LoginResult): void {
    this.#expiresAt = r.leaseSeconds > 0 ? this.#clock.now() + r.leaseSeconds * 1000 : Infinity;
    this.#lastLease = r.leaseSeconds;
    const after = renewAfterMs(r);
    if (after !== undefined) void this.#renewLater(after);
  }

  async #renewLater(ms: number): Promise<void> {
    if (!await this.#clock.sleep(ms, this.#stop.signal)) return;
    const previous = this.#lastLease;
    try {
      if (this.#renewNext) throw new Error("the token reached its maximum TTL");
      const r = await this.#client.renewSelf(this.#stop.signal);
      this.renewals++;
      this.#renewNext = r.leaseSeconds < previous * SHRUNK;
      this.#granted(r);
      this.#log.debug("renewed the store token", { lease_seconds: r.leaseSeconds });
    } catch (e) {
      if (this.#stop.signal.aborted) return;
      this.#renewNext = false;
      // The next read logs in again, with the token file read afresh.
      this.#expiresAt = 0;
      this.#log.debug("the store token is not renewed; the next poll logs in again", {
        reason: (e as Error).message,
      });
    }
  }

  /** Revokes the kept token, at the supervisor's end; renewals stop first, so none races it. */
  async revoke(signal: AbortSignal): Promise<void> {
    this.#stop.abort();
    await this.#login?.catch(() => undefined);
    await this.#client.revokeSelf({ signal });
  }

  close(): void {
    this.#stop.abort();
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
  );
}
