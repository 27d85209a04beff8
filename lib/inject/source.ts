/** Where secrets come from: the store (one lazy login, shared by every read) or, for local
 * development, a file laid out like the store. */
import type { Secret } from "../vault/client.ts";
import type { StorePath } from "../config/store_path.ts";
import type { LeaseKeeper } from "./leases.ts";

export interface SecretSource {
  /** Names the source in messages, e.g. the store address or the file path. */
  readonly name: string;
  /** Reads one secret; rejects with StoreError. */
  read(path: StorePath, version: number | undefined, signal: AbortSignal): Promise<Secret>;
  /** Sends one write (write references) with the source's login; never retried once it may
   * have reached the store. Only the store has it. */
  write?(path: StorePath, body: string, signal: AbortSignal): Promise<Secret>;
  /** The store token of the source's login, logging in first if needed (secrets-store:login).
   * Only the store has it. */
  token?(signal: AbortSignal): Promise<string>;
  close(): void;
  /** Revokes the store token of the source's login, if it made one (a file source has none).
   * Rejects with StoreError; the caller bounds it with `signal`. */
  revoke?(signal: AbortSignal): Promise<void>;
  /** The paths whose answers held a lease (dynamic secrets), so far. */
  readonly leasedPaths?: ReadonlySet<StorePath>;
  /** The watch modes' login: the leases of the dynamic secrets read, kept renewed. */
  readonly leases?: LeaseKeeper;
}
