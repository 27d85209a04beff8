/** One store login per identity (store, auth path, role, ServiceAccount), reused until its
 * token nears expiry and shared by every volume of that identity; never shared across
 * identities. The ServiceAccount JWTs come from the kubelet and stay in memory only, kept
 * per volume: a login uses the freshest unexpired one and, when the store refuses it, the
 * next, so one volume's bad token never stops another volume of the same identity. A store
 * token the pool drops (replaced by a new login, or its identity's last volume gone) is
 * revoked in the background, so tokens do not build up in the store until their TTL. */
import type { Logger } from "../log/logger.ts";
import { type Secret, StoreClient } from "../vault/client.ts";
import { createTransport, type Transport } from "../http/transport.ts";
import { StoreError, type StoreErrorKind } from "../vault/errors.ts";
import { parseStoreAddress } from "../config/store_address.ts";
import { loginPath, type StorePath } from "../config/store_path.ts";
import type { RequestOutcome, StoreOperation } from "../vault/requests.ts";

/** Who logs in where; two volumes with equal identities share one login and one read. */
export interface Identity {
  address: string;
  namespace?: string | undefined;
  caCert?: string | undefined;
  skipVerify: boolean;
  authPath: StorePath;
  role: string;
  serviceAccount: { namespace: string; name: string };
}

export function identityKey(i: Identity): string {
  return JSON.stringify([
    i.address,
    i.namespace ?? "",
    i.caCert ?? "",
    i.skipVerify,
    i.authPath,
    i.role,
    i.serviceAccount.namespace,
    i.serviceAccount.name,
  ]);
}

/** A ServiceAccount token of one volume. */
interface Held {
  jwt: string;
  /** The token's own expiry (its `exp` claim), in ms since the epoch. */
  expiresAt: number;
  /** The store accepted it once. */
  proven: boolean;
}

interface Entry {
  identity: Identity;
  client: StoreClient;
  /** By volume id: the newest token the kubelet handed over, and the last proven one. */
  tokens: Map<string, Held[]>;
  expiresAt: number;
  login?: Promise<void> | undefined;
  /** The store token of the login that ended last (the client's): what the next login's
   * replaces, however many logins of the identity run at once. */
  current?: string | undefined;
  /** Forgotten by retain() or shutdown(): a login still in flight then revokes its token as
   * soon as it has it, since nothing will use or revoke it later. */
  dropped?: boolean;
  /** Logins that succeeded: the leases read with one login end with its token. */
  generation: number;
  /** Lease revokes in flight: a revoke of the token waits for them, since the store would
   * refuse them once the token is gone (it revokes the leases too, but later, unchecked). */
  leaseRevokes?: Set<Promise<void>>;
}

/** How one store request ended, for the metrics: ok, the store error kind, or other. */
export type StoreOutcome = "ok" | StoreErrorKind | "other";

export interface PoolOptions {
  requestTimeoutMs: number;
  /** Told of every login and read the pool makes, by its final outcome (metrics.ts). */
  observe?: (operation: "login" | "read", outcome: StoreOutcome) => void;
  /** Told of every request sent to the store (each retry, engine lookup and revoke too), with
   * the role of the identity that sent it (metrics.ts). */
  requests?: (
    operation: StoreOperation,
    outcome: RequestOutcome,
    role: string,
    seconds: number,
  ) => void;
  /** connection.allowInsecureHttp of the installation. */
  allowInsecureHttp?: boolean;
  /** Log in again this long before the store token expires. */
  renewBeforeMs?: number;
  logger: Logger;
  /** Makes the connection pool of one store; tests pass an in-memory store. */
  createTransport?: typeof createTransport;
  /** Revoke store tokens the pool drops; on unless false. */
  revokeTokens?: boolean;
}

/** Each background revoke's own deadline: a dropped token expires anyway, so a slow store
 * costs a pending request at most this long. */
const REVOKE_TIMEOUT_MS = 2_000;
/** At most this many revokes in flight; past it a dropped token is left to expire, so a
 * store that stopped answering cannot grow the queue. */
const MAX_PENDING_REVOKES = 64;

export class StorePool {
  readonly #entries = new Map<string, Entry>();
  /** One connection pool per (address, CA, verification): identities differ only in who logs
   * in, so they share connections and TLS sessions instead of holding one pool each. */
  readonly #transports = new Map<string, Transport>();
  /** Revokes in flight, awaited at shutdown. */
  readonly #revoking = new Set<Promise<void>>();
  /** Counters for logs and benchmarks. */
  readonly stats = { logins: 0, reads: 0, revoked: 0, revokesFailed: 0 };

  constructor(readonly o: PoolOptions) {}

  /** A new volume's token: logged in with first (unless the store already accepted this very
   * token), so a token whose claims look right but that the store refuses never rides on the
   * login of another volume. Kept for `volumeId` only once accepted; throws StoreError. */
  async admit(
    identity: Identity,
    volumeId: string,
    jwt: string,
    expiresAt: number,
    signal?: AbortSignal,
  ): Promise<void> {
    const e = this.#entry(identity);
    const held: Held = { jwt, expiresAt, proven: false };
    const known = [...e.tokens.values()].flat().some((t) => t.jwt === jwt && t.proven);
    // Not shared with readers waiting for a login: its failure is this volume's alone.
    if (!known) await this.#loginWith(e, [held], signal);
    held.proven = true;
    this.#hold(e, volumeId, held);
  }

  /** A republished volume's fresh token: tried first at the next login; kept beside the
   * volume's last accepted one until the store accepts it. */
  offer(identity: Identity, volumeId: string, jwt: string, expiresAt: number): void {
    const e = this.#entry(identity);
    const had = e.tokens.get(volumeId)?.find((t) => t.jwt === jwt);
    if (!had) this.#hold(e, volumeId, { jwt, expiresAt, proven: false });
  }

  /** Drops a volume's tokens (at unpublish). */
  forget(volumeId: string): void {
    for (const e of this.#entries.values()) e.tokens.delete(volumeId);
  }

  #hold(e: Entry, volumeId: string, held: Held): void {
    const now = Date.now();
    const rest = (e.tokens.get(volumeId) ?? []).filter((t) =>
      t.jwt !== held.jwt && t.expiresAt > now
    );
    const lastProven = held.proven ? undefined : rest.find((t) => t.proven);
    e.tokens.set(volumeId, lastProven ? [held, lastProven] : [held]);
  }

  /** Reads one secret as `identity`, logging in first only when needed. */
  async read(
    identity: Identity,
    path: StorePath,
    version: number | undefined,
    signal?: AbortSignal,
  ): Promise<Secret> {
    const e = this.#entry(identity);
    await this.#ensureLogin(e, signal);
    if (e.dropped) {
      // Its last volume went away during the login: nothing is sent without a token.
      throw new StoreError("permission_denied", "no volume of this identity is left", {
        address: identity.address,
        operation: "read",
        path,
      });
    }
    const used = e.client.token;
    try {
      return await this.#read(e, path, version, signal);
    } catch (err) {
      // A token revoked or expired early: one fresh login, then one more try. When a login
      // already replaced the token this read used (and revoked it), the new one is tried as is.
      if (err instanceof StoreError && err.kind === "permission_denied" && e.tokens.size) {
        if (e.client.token === used) e.expiresAt = 0;
        await this.#ensureLogin(e, signal);
        return await this.#read(e, path, version, signal);
      }
      throw err;
    }
  }

  async #read(
    e: Entry,
    path: StorePath,
    version: number | undefined,
    signal: AbortSignal | undefined,
  ): Promise<Secret> {
    this.stats.reads++;
    try {
      const secret = await e.client.read(path, { version, signal });
      this.o.observe?.("read", "ok");
      return secret;
    } catch (err) {
      this.o.observe?.("read", outcomeOf(err));
      throw err;
    }
  }

  /** Logs in as `identity` when its token nears its end, as a read would; then the login in
   * use (its generation): a dynamic secret's lease ends with the login it was read with. */
  async ensure(identity: Identity, signal?: AbortSignal): Promise<number> {
    const e = this.#entry(identity);
    await this.#ensureLogin(e, signal);
    return e.generation;
  }

  /** The login in use for `identity`, after a read: see ensure(). */
  generation(identity: Identity): number {
    return this.#entries.get(identityKey(identity))?.generation ?? 0;
  }

  /** Renews a dynamic secret's lease with `identity`'s token, asking for `increment` seconds;
   * one request (StoreClient.renewLease), bounded by the request timeout and `signal`. */
  async renewLease(
    identity: Identity,
    leaseId: string,
    increment: number,
    signal?: AbortSignal,
  ) {
    const e = this.#entry(identity);
    await this.#ensureLogin(e, signal);
    const own = AbortSignal.timeout(this.o.requestTimeoutMs);
    return await e.client.renewLease(leaseId, {
      increment,
      signal: signal ? AbortSignal.any([own, signal]) : own,
    });
  }

  /** Revokes a dynamic secret's lease in the background, as a dropped token is (same bound on
   * revokes in flight, same deadline, awaited at shutdown); never logs in for it: when the
   * identity's token is gone, so is the lease (the store revokes a token's leases with it). */
  revokeLease(identity: Identity, leaseId: string, deadline?: AbortSignal): void {
    const e = this.#entries.get(identityKey(identity));
    const token = e?.client.token;
    if (!e || !token) return;
    const p = this.#background(
      e,
      "a dynamic secret's lease",
      deadline,
      (signal) => e.client.revokeLease(leaseId, { signal }),
    );
    if (!p) return;
    const pending = e.leaseRevokes ??= new Set();
    pending.add(p);
    void p.finally(() => pending.delete(p));
  }

  /** Forgets identities no volume uses any more, revoking their store tokens. */
  retain(keys: Set<string>): void {
    for (const [k, e] of this.#entries) {
      if (!keys.has(k)) {
        // Its client holds no connection of its own (the transport is the pool's), so the
        // revoke below can still use it.
        this.#entries.delete(k);
        e.dropped = true;
        const token = e.client.token;
        e.client.token = e.current = undefined;
        if (token) this.#revoke(e, token);
      }
    }
  }

  /** At driver shutdown: revokes every token still held, but those of the identities in
   * `keep` (whose mounted dynamic credentials would go with them), and waits for revokes in
   * flight, for at most `timeoutMs`, then closes. Tokens not revoked expire at their TTL. */
  async shutdown(timeoutMs: number, keep: ReadonlySet<string> = new Set()): Promise<void> {
    const deadline = AbortSignal.timeout(timeoutMs);
    const stop = new Promise<void>((resolve) => {
      if (deadline.aborted) resolve();
      deadline.addEventListener("abort", () => resolve(), { once: true });
    });
    // Revokes already sent (the volumes' leases) first: a token's revoke would make them fail.
    await Promise.race([this.revoked(), stop]);
    for (const [key, e] of this.#entries) {
      e.dropped = true;
      const token = e.client.token;
      e.client.token = e.current = undefined;
      if (token && !keep.has(key)) this.#revoke(e, token, deadline);
    }
    await Promise.race([this.revoked(), stop]);
    this.close();
  }

  /** Resolves once the revokes in flight now have ended (each has its own deadline). */
  async revoked(): Promise<void> {
    await Promise.all(this.#revoking);
  }

  /** Revokes `token` in the background: never awaited by a publish, an unpublish or a read;
   * a failure is logged. */
  #revoke(e: Entry, token: string, deadline?: AbortSignal): void {
    if (this.o.revokeTokens === false) return;
    this.#background(
      e,
      "a store token",
      deadline,
      async (signal) => {
        await Promise.all(e.leaseRevokes ?? []);
        await e.client.revokeSelf({ token, signal });
      },
    );
  }

  /** Runs one revoke of `what` in the background, bounded by REVOKE_TIMEOUT_MS and
   * MAX_PENDING_REVOKES; a failure is logged. The promise never rejects; undefined when the
   * bound left it unsent. */
  #background(
    e: Entry,
    what: string,
    deadline: AbortSignal | undefined,
    send: (signal: AbortSignal) => Promise<void>,
  ): Promise<void> | undefined {
    const who = {
      store: e.identity.address,
      role: e.identity.role,
      serviceAccount: `${e.identity.serviceAccount.namespace}/${e.identity.serviceAccount.name}`,
    };
    if (this.#revoking.size >= MAX_PENDING_REVOKES) {
      this.o.logger.warn(`too many revokes in flight; ${what} ends at its TTL`, who);
      return undefined;
    }
    const own = AbortSignal.timeout(Math.min(this.o.requestTimeoutMs, REVOKE_TIMEOUT_MS));
    const signal = deadline ? AbortSignal.any([own, deadline]) : own;
    const p: Promise<void> = send(signal).then(
      () => {
        this.stats.revoked++;
        this.o.logger.debug(`revoked ${what} the driver no longer uses`, who);
      },
      (err) => {
        this.stats.revokesFailed++;
        // Refused: the token is already gone (revoked or expired), and its leases with it.
        const gone = err instanceof StoreError && err.kind === "permission_denied";
        this.o.logger[gone ? "debug" : "warn"](`${what} the driver dropped was not revoked`, {
          ...who,
          reason: (err as Error).message,
        });
      },
    ).finally(() => this.#revoking.delete(p));
    this.#revoking.add(p);
    return p;
  }

  close(): void {
    for (const e of this.#entries.values()) e.client.close();
    this.#entries.clear();
    for (const t of this.#transports.values()) t.close();
    this.#transports.clear();
  }

  #entry(identity: Identity): Entry {
    const key = identityKey(identity);
    let e = this.#entries.get(key);
    if (!e) {
      const requests = this.o.requests;
      e = {
        identity,
        client: new StoreClient({
          address: this.#address(identity),
          namespace: identity.namespace,
          caCert: identity.caCert,
          skipVerify: identity.skipVerify,
          transport: this.#transport(identity),
          requestTimeoutMs: this.o.requestTimeoutMs,
          logger: this.o.logger,
          observe: requests &&
            ((operation, outcome, seconds) => requests(operation, outcome, identity.role, seconds)),
        }),
        tokens: new Map(),
        expiresAt: 0,
        generation: 0,
      };
      this.#entries.set(key, e);
    }
    return e;
  }

  #transport(i: Identity): Transport {
    const key = JSON.stringify([i.address, i.caCert ?? "", i.skipVerify]);
    let t = this.#transports.get(key);
    if (!t) {
      const make = this.o.createTransport ?? createTransport;
      this.#transports.set(key, t = make(this.#address(i), i));
    }
    return t;
  }

  #address(i: Identity) {
    return parseStoreAddress(i.address, { allowInsecureHttp: this.o.allowInsecureHttp ?? false });
  }

  async #ensureLogin(e: Entry, signal?: AbortSignal): Promise<void> {
    if (Date.now() < e.expiresAt - (this.o.renewBeforeMs ?? 60_000)) return;
    // Concurrent reads of one identity share one login: no login storms.
    if (e.login) return await e.login;
    const now = Date.now();
    const seen = new Set<string>();
    const candidates = [...e.tokens.values()].flat()
      .filter((t) => t.expiresAt > now && !seen.has(t.jwt) && seen.add(t.jwt))
      .sort((a, b) => b.expiresAt - a.expiresAt);
    // Cleared when it settles, so a failed login is tried again next time.
    const p: Promise<void> = this.#loginWith(e, candidates, signal).finally(() => {
      if (e.login === p) e.login = undefined;
    });
    e.login = p;
    await p;
  }

  /** Logs in with the first of `candidates` the store accepts; a refused token is dropped
   * from every volume holding it, and the next is tried. A store that cannot be reached ends
   * the attempt: another token would not help. */
  async #loginWith(e: Entry, candidates: Held[], signal?: AbortSignal): Promise<void> {
    const where = {
      address: e.identity.address,
      operation: "login" as const,
      path: loginPath(e.identity.authPath),
    };
    if (!candidates.length) {
      throw new StoreError(
        "permission_denied",
        "no unexpired ServiceAccount token: waiting for the kubelet to republish",
        where,
      );
    }
    let refused: unknown;
    for (const t of candidates) {
      try {
        let r;
        try {
          r = await e.client.login(e.identity.authPath, e.identity.role, t.jwt, signal);
        } catch (err) {
          this.o.observe?.("login", outcomeOf(err));
          throw err;
        }
        this.o.observe?.("login", "ok");
        this.stats.logins++;
        // Taken once this login has ended: two volumes of one identity published at once log
        // in together, and each replaces the token of the one that ended before it.
        const replaced = e.current;
        e.current = r.token;
        if (replaced && replaced !== r.token) this.#revoke(e, replaced);
        if (e.dropped) {
          // Its identity's last volume went away while this login was in flight.
          e.client.token = e.current = undefined;
          this.#revoke(e, r.token);
        }
        t.proven = true;
        e.generation++;
        // A lease of 0 means no expiry; still renew now and then so a revoked token heals.
        e.expiresAt = Date.now() + (r.leaseSeconds > 0 ? r.leaseSeconds : 3600) * 1000;
        return;
      } catch (err) {
        if (!(err instanceof StoreError) || !REFUSED.has(err.kind)) throw err;
        refused = err;
        for (const [volume, held] of e.tokens) {
          const left = held.filter((h) => h.jwt !== t.jwt);
          if (left.length) e.tokens.set(volume, left);
          else e.tokens.delete(volume);
        }
        this.o.logger.warn("store refused a ServiceAccount token", {
          store: e.identity.address,
          role: e.identity.role,
          serviceAccount:
            `${e.identity.serviceAccount.namespace}/${e.identity.serviceAccount.name}`,
          left: candidates.length - candidates.indexOf(t) - 1,
        });
      }
    }
    throw refused;
  }
}

/** Answers that say the store will not take this token (as opposed to cannot be reached). */
const REFUSED = new Set(["permission_denied", "bad_request"]);

function outcomeOf(err: unknown): StoreOutcome {
  return err instanceof StoreError ? err.kind : "other";
}
