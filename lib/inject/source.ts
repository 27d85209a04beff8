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
  close(): void;
  /** Revokes the store token of the source's login, if it made one (a file source has none).
   * Rejects with StoreError; the caller bounds it with `signal`. */
  revoke?(signal: AbortSignal): Promise<void>;
  /** The paths whose answers held a lease (dynamic secrets), so far. */
  readonly leasedPaths?: ReadonlySet<StorePath>;
  /** The watch modes' login: the leases of the dynamic secrets read, kept renewed. */
  readonly leases?: LeaseKeeper;
}
