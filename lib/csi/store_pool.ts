/** One store login per identity (store, auth path, role, ServiceAccount), reused until its
 * token nears expiry and shared by every volume of that identity; never shared across
 * identities. The ServiceAccount JWTs come from the kubelet and stay in memory only. */
import type { Logger } from "../log/logger.ts";
import { type Secret, StoreClient } from "../vault/client.ts";
import { createTransport, type Transport } from "../vault/transport.ts";
import { StoreError } from "../vault/errors.ts";
import { parseStoreAddress } from "../vault/store_address.ts";
import { loginPath, type StorePath } from "../vault/store_path.ts";

/** Who logs in where; two volumes with equal identities share one login and one read. */
export interface Identity {
  address: string;
  namespace?: string;
  caCert?: string;
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

interface Entry {
  identity: Identity;
  client: StoreClient;
  jwt?: string;
  expiresAt: number;
  login?: Promise<void>;
}

export interface PoolOptions {
  requestTimeoutMs: number;
  /** connection.allowInsecureHttp of the installation. */
  allowInsecureHttp?: boolean;
  /** Log in again this long before the store token expires. */
  renewBeforeMs?: number;
  logger: Logger;
}

export class StorePool {
  readonly #entries = new Map<string, Entry>();
  /** One connection pool per (address, CA, verification): identities differ only in who logs
   * in, so they share connections and TLS sessions instead of holding one pool each. */
  readonly #transports = new Map<string, Transport>();
  /** Counters for logs and benchmarks. */
  readonly stats = { logins: 0, reads: 0 };

  constructor(readonly o: PoolOptions) {}

  /** Records the freshest ServiceAccount token the kubelet handed over for `identity`. */
  setJwt(identity: Identity, jwt: string): void {
    this.#entry(identity).jwt = jwt;
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
    this.stats.reads++;
    try {
      return await e.client.read(path, { version, signal });
    } catch (err) {
      // A token revoked or expired early: one fresh login, then one more try.
      if (err instanceof StoreError && err.kind === "permission_denied" && e.jwt) {
        e.expiresAt = 0;
        await this.#ensureLogin(e, signal);
        this.stats.reads++;
        return await e.client.read(path, { version, signal });
      }
      throw err;
    }
  }

  /** Forgets identities no volume uses any more. */
  retain(keys: Set<string>): void {
    for (const [k, e] of this.#entries) {
      if (!keys.has(k)) {
        e.client.close();
        this.#entries.delete(k);
      }
    }
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
        }),
        expiresAt: 0,
      };
      this.#entries.set(key, e);
    }
    return e;
  }

  #transport(i: Identity): Transport {
    const key = JSON.stringify([i.address, i.caCert ?? "", i.skipVerify]);
    let t = this.#transports.get(key);
    if (!t) this.#transports.set(key, t = createTransport(this.#address(i), i));
    return t;
  }

  #address(i: Identity) {
    return parseStoreAddress(i.address, { allowInsecureHttp: this.o.allowInsecureHttp ?? false });
  }

  async #ensureLogin(e: Entry, signal?: AbortSignal): Promise<void> {
    if (Date.now() < e.expiresAt - (this.o.renewBeforeMs ?? 60_000)) return;
    // Concurrent reads of one identity share one login: no login storms.
    e.login ??= (async () => {
      if (!e.jwt) {
        throw new StoreError(
          "permission_denied",
          "no ServiceAccount token yet: waiting for the kubelet to republish",
          {
            address: e.identity.address,
            operation: "login",
            path: loginPath(e.identity.authPath),
          },
        );
      }
      const r = await e.client.login(e.identity.authPath, e.identity.role, e.jwt, signal);
      this.stats.logins++;
      // A lease of 0 means no expiry; still renew now and then so a revoked token heals.
      e.expiresAt = Date.now() + (r.leaseSeconds > 0 ? r.leaseSeconds : 3600) * 1000;
    })().finally(() => (e.login = undefined));
    await e.login;
  }
}
