/** The leases of the dynamic secrets the CSI volumes hold (database credentials and the like):
 * every read of such a path issues new credentials and a new lease, so a kept lease is renewed
 * at the sweeps instead of the path being read again, and the files stay as they are. The path
 * is read anew only when its lease cannot be kept alive until the sweep after next; the lease
 * it replaces is revoked once the new files are in place (volumes.ts). Kept in memory only,
 * one per (identity, path, version) a volume uses, with the secret it came with: the sweep
 * writes the volume's files from it. */
import type { Lease } from "../vault/answers.ts";
import type { Secret } from "../vault/client.ts";
import type { Identity } from "./store_pool.ts";

/** The point of a grant to renew at, as the injector's LeaseKeeper and Vault's agent do. */
const RENEW_FRACTION = 2 / 3;

/** A dynamic secret kept, and the lease it came with as last granted. */
export interface Kept {
  /** Who read it: renewals and the revoke go with this identity's token. */
  identity: Identity;
  secret: Secret & { lease: Lease };
  /** The first grant's duration: asked again at each renewal, so a shorter answer means the
   * lease's maximum TTL has come within it. */
  increment: number;
  /** When the request that granted the current duration was sent (ends reckoned early). */
  grantedAt: number;
  /** The identity's login it was read with (StorePool.generation): the store revokes a
   * token's leases with the token, so a new login ends it. */
  login: number;
}

/** What a sweep does with a kept lease: keep the files as they are, renew the lease first,
 * or read the path anew. */
export type LeasePlan = "keep" | "renew" | "read";

export function endOf(k: Kept): number {
  return k.grantedAt + k.secret.lease.leaseSeconds * 1000;
}

/** The plan for `k` at a sweep at `now`, sweeps coming every `everyMs`, the identity's login
 * now being `login`. A lease that would end before the sweep after next and cannot be
 * extended (not renewable, or its last grant came back shorter than asked: its maximum TTL) is
 * read anew now, so the new credentials are in place before the old ones stop working. */
export function planLease(k: Kept, now: number, everyMs: number, login: number): LeasePlan {
  const { leaseSeconds, renewable } = k.secret.lease;
  if (login !== k.login) return "read";
  // Vault's 0 is "no TTL": nothing ends, nothing to renew.
  if (leaseSeconds <= 0) return "keep";
  const end = endOf(k);
  const extendable = renewable && leaseSeconds >= k.increment;
  if (!extendable) return end <= now + 2 * everyMs ? "read" : "keep";
  const renewAt = k.grantedAt + leaseSeconds * 1000 * RENEW_FRACTION;
  return now >= renewAt || now + everyMs >= end ? "renew" : "keep";
}

/** After a renewal granted `lease` (its request sent at `sentAt`): the kept lease as renewed,
 * or undefined when it must be read anew now (the grant is short and ends before the sweep
 * after next). */
export function renewed(
  k: Kept,
  lease: Lease,
  sentAt: number,
  everyMs: number,
): Kept | undefined {
  const next: Kept = { ...k, secret: { ...k.secret, lease }, grantedAt: sentAt };
  const short = !lease.renewable || lease.leaseSeconds < k.increment;
  return short && endOf(next) <= sentAt + 2 * everyMs ? undefined : next;
}

/** Kept leases by read key (volumes.ts wantedKey). */
export class LeaseBook {
  readonly #kept = new Map<string, Kept>();

  get size(): number {
    return this.#kept.size;
  }

  get(key: string): Kept | undefined {
    return this.#kept.get(key);
  }

  /** Records what a read of `key` returned: a leased secret is kept; the lease it replaces,
   * if another, is returned for revocation. */
  readDone(
    key: string,
    identity: Identity,
    secret: Secret,
    at: number,
    login: number,
  ): Kept | undefined {
    const had = this.#kept.get(key);
    if (secret.lease) {
      const lease = secret.lease;
      this.#kept.set(key, {
        identity,
        secret: { ...secret, lease },
        increment: lease.leaseSeconds,
        grantedAt: at,
        login,
      });
    } else this.#kept.delete(key);
    return had && had.secret.lease.id !== secret.lease?.id ? had : undefined;
  }

  set(key: string, k: Kept): void {
    this.#kept.set(key, k);
  }

  /** Every lease kept. */
  all(): Kept[] {
    return [...this.#kept.values()];
  }

  /** Forgets the leases `keep` says no, returning them for revocation. */
  retain(keep: (key: string, k: Kept) => boolean): Kept[] {
    const out: Kept[] = [];
    for (const [key, k] of this.#kept) {
      if (!keep(key, k)) {
        this.#kept.delete(key);
        out.push(k);
      }
    }
    return out;
  }
}
