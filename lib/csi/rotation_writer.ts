/** Rotation writes that give readers and watchers what the usage guide promises, together:
 *
 * - A reader never sees a torn value: a changed file is written to a temporary name and
 *   renamed over the old one, so opening the path yields either the old or the new bytes.
 * - Its mtime moves: the path now names a file written just now.
 * - A watch on the file itself (the guide's inotify example) gets IN_MODIFY on every
 *   rotation: a watch follows the inode, which the rename takes off the path, so the driver
 *   keeps the replaced inodes open and, after a grace period for reads already under way,
 *   writes the new value into them too. The watch also sees IN_ATTRIB and IN_DELETE_SELF
 *   when its inode leaves the path, and keeps working.
 *
 * docs/csi-rotation-writes.md measures the alternatives and explains the choice. Its corners:
 * a watch on an inode that is neither the first nor among the last KEEP_GENERATIONS goes
 * silent, and a reader that opened the file more than GRACE_MS before a rotation and reads
 * from that descriptor after it can see the replaced inode being rewritten. */
import { sameBytes } from "../sys/bytes.ts";
import type { Ownership, VolumeFile } from "./files.ts";

/** How long reads already under way get before replaced inodes are rewritten in place. */
export const GRACE_MS = 200;
/** Replaced inodes kept per file besides the first one, which is kept for the life of the
 * volume: an app that set its watch when it started (the guide's loop) watches that one. */
export const KEEP_GENERATIONS = 8;

export class RotationWriter {
  readonly #old = new Map<string, Deno.FsFile[]>();

  constructor(readonly dir: string) {}

  /** Swaps in the files whose bytes changed (readers see the new bytes from now on) and
   * returns their names with `notify`, which writes them into the replaced inodes. Call
   * `notify` GRACE_MS later: a sweep waits once for all its volumes, not once per volume. */
  swap(files: VolumeFile[], own: Ownership): { changed: string[]; notify: () => void } {
    const changed: VolumeFile[] = [];
    for (const f of files) {
      const path = `${this.dir}/${f.name}`;
      const current = readOrUndefined(path);
      if (current && sameBytes(current, f.bytes)) continue;
      const tmp = `${this.dir}/.${f.name}.${crypto.randomUUID()}`;
      Deno.writeFileSync(tmp, f.bytes, { mode: own.mode });
      Deno.chmodSync(tmp, own.mode);
      if (own.uid !== undefined || own.gid !== undefined) {
        Deno.chownSync(tmp, own.uid ?? null, own.gid ?? null);
      }
      // Held before the rename: after it, the path no longer leads to this inode.
      const previous = current ? Deno.openSync(path, { read: true, write: true }) : undefined;
      Deno.renameSync(tmp, path);
      if (previous) this.#remember(f.name, previous);
      changed.push(f);
    }
    const notify = () => {
      for (const f of changed) {
        for (const file of this.#old.get(f.name) ?? []) {
          try {
            file.seekSync(0, Deno.SeekMode.Start);
            for (let off = 0; off < f.bytes.length;) off += file.writeSync(f.bytes.subarray(off));
            file.truncateSync(f.bytes.length);
          } catch {
            // Unpublished meanwhile: nothing left to notify.
          }
        }
      }
    };
    return { changed: changed.map((f) => f.name), notify };
  }

  /** Closes the held inodes (unpublish). */
  close(): void {
    for (const files of this.#old.values()) for (const f of files) f.close();
    this.#old.clear();
  }

  #remember(name: string, file: Deno.FsFile): void {
    const list = this.#old.get(name) ?? [];
    list.push(file);
    // Index 0 is the inode the volume was published with: never dropped.
    while (list.length > KEEP_GENERATIONS + 1) list.splice(1, 1)[0]!.close();
    this.#old.set(name, list);
  }
}

function readOrUndefined(path: string): Uint8Array | undefined {
  try {
    return Deno.readFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}
