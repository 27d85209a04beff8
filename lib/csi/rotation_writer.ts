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
import {
  applyOwnership,
  createTemp,
  fileMode,
  type Ownership,
  removeQuietly,
  type VolumeFile,
  writeAll,
} from "./files.ts";
import { charged, isNoSpace, pages, SpaceError } from "./space.ts";

/** How long reads already under way get before replaced inodes are rewritten in place. */
export const GRACE_MS = 200;
/** Replaced inodes kept per file besides the first one, which is kept for the life of the
 * volume: an app that set its watch when it started (the guide's loop) watches that one. */
export const KEEP_GENERATIONS = 8;

/** A replaced inode held open for its watchers; `seq` orders them oldest first. */
interface Kept {
  file: Deno.FsFile;
  seq: number;
}

/** What a swap did: the names it wrote and removed, and `notify` for the replaced inodes. */
export interface Swapped {
  changed: string[];
  removed: string[];
  /** Replaced inodes closed to make room for this swap. */
  dropped: number;
  notify: () => void;
}

export class RotationWriter {
  /** By file name; index 0 is the inode the volume was published with. */
  readonly #old = new Map<string, Kept[]>();
  #seq = 0;

  /** `limitBytes` is the volume's tmpfs size: files and kept inodes share it. */
  constructor(readonly dir: string, readonly limitBytes = Number.POSITIVE_INFINITY) {}

  /** Makes the volume hold exactly `files`: removes the names of `remove` that are not among
   * them, swaps in the files whose bytes changed or that are new (readers see the new bytes
   * from now on), and returns their names with `notify`, which writes them into the replaced
   * inodes. Call `notify` GRACE_MS later: a sweep waits once for all its volumes.
   *
   * Before anything is written, the oldest kept inodes are dropped until the result fits in
   * `limitBytes`; when it cannot fit even without them, SpaceError and nothing is changed. */
  swap(files: VolumeFile[], own: Ownership, remove: string[] = []): Swapped {
    const wanted = new Set(files.map((f) => f.name));
    const here = new Set([...Deno.readDirSync(this.dir)].map((e) => e.name));
    const gone = remove.filter((n) => !wanted.has(n) && here.has(n));
    const plan = files.map((f) => {
      const path = `${this.dir}/${f.name}`;
      const current = readOrUndefined(path);
      // A new mode (an edit of `mode`) rewrites the file too.
      const same = !!current && sameBytes(current.bytes, f.bytes) &&
        current.mode === fileMode(own, f.mode);
      return { f, path, current, same };
    });
    const changed = plan.filter((p) => !p.same);
    if (!changed.length && !gone.length) {
      return { changed: [], removed: [], dropped: 0, notify: () => {} };
    }
    const drop = this.#makeRoom(plan, gone);
    for (const k of drop) this.#release(k);
    for (const name of gone) {
      removeQuietly(`${this.dir}/${name}`);
      this.#forget(name);
    }
    const done: VolumeFile[] = [];
    const notify = () => this.#notify(done);
    let at: VolumeFile | undefined;
    try {
      for (const p of changed) {
        at = p.f;
        this.#replace(p.f, p.path, !!p.current, own, !drop.has(p.path));
        done.push(p.f);
      }
    } catch (e) {
      // Files swapped before the failure stay swapped; their watchers hear of them.
      const error = isNoSpace(e) ? new SpaceError(at!.name, at!.bytes.length, this.limitBytes) : e;
      throw Object.assign(error as Error, { notify });
    }
    return { changed: done.map((f) => f.name), removed: gone, dropped: drop.size, notify };
  }

  /** Closes the held inodes (unpublish). */
  close(): void {
    for (const files of this.#old.values()) for (const k of files) k.file.close();
    this.#old.clear();
  }

  /** Writes `f` to a temporary file renamed over `path`; holds the replaced inode when
   * `keep`. On failure the temporary file is removed: nothing stray is left in the volume. */
  #replace(f: VolumeFile, path: string, existed: boolean, own: Ownership, keep: boolean): void {
    const tmp = createTemp(this.dir, 0o600);
    try {
      using file = tmp.file;
      writeAll(file, f.bytes);
      applyOwnership(tmp.path, own, f.mode);
      // Held before the rename: after it, the path no longer leads to this inode.
      const previous = existed && keep
        ? Deno.openSync(path, { read: true, write: true })
        : undefined;
      Deno.renameSync(tmp.path, path);
      if (previous) this.#remember(f.name, previous);
    } catch (e) {
      removeQuietly(tmp.path);
      throw e;
    }
  }

  /** The kept inodes (or the inode a file's swap would keep, as the path itself) to drop so
   * that the files and the remaining kept inodes fit. Oldest recent generations go first,
   * then the first inodes, then the inodes this swap would keep; throws SpaceError, with
   * nothing dropped, when the files alone do not fit. */
  #makeRoom(
    plan: Array<
      {
        f: VolumeFile;
        path: string;
        current?: { bytes: Uint8Array; charged: number } | undefined;
        same: boolean;
      }
    >,
    gone: string[],
  ): Set<Kept | string> {
    const goneSet = new Set(gone);
    let total = 0;
    const candidates: Array<{ key: Kept | string; cost: number; rank: number; seq: number }> = [];
    const newSize = new Map<string, number>();
    for (const p of plan) {
      total += p.same ? p.current!.charged : pages(p.f.bytes.length);
      if (!p.same) newSize.set(p.f.name, pages(p.f.bytes.length));
      if (!p.same && p.current) {
        // The inode this swap takes off the path: kept, and later rewritten with the new value.
        const cost = Math.max(p.current.charged, pages(p.f.bytes.length));
        candidates.push({ key: p.path, cost, rank: 2, seq: Infinity });
      }
    }
    for (const [name, list] of this.#old) {
      if (goneSet.has(name)) continue;
      list.forEach((k, i) => {
        const now = charged(k.file.statSync());
        const cost = Math.max(now, newSize.get(name) ?? 0);
        candidates.push({ key: k, cost, rank: i === 0 ? 1 : 0, seq: k.seq });
      });
    }
    const fixed = total;
    total += candidates.reduce((sum, c) => sum + c.cost, 0);
    candidates.sort((a, b) => a.rank - b.rank || a.seq - b.seq);
    const drop = new Set<Kept | string>();
    // A path whose replaced inode is not kept is still there while its new file is written.
    let transient = 0;
    for (const c of candidates) {
      if (total + transient <= this.limitBytes) break;
      drop.add(c.key);
      total -= c.cost;
      if (typeof c.key === "string") transient = Math.max(transient, c.cost);
    }
    const writes = plan.filter((p) => !p.same);
    // Only removals never need room; the kernel has the last word on them anyway.
    if (writes.length && (total + transient > this.limitBytes || fixed > this.limitBytes)) {
      const largest = writes.reduce((a, b) => (b.f.bytes.length > a.f.bytes.length ? b : a));
      throw new SpaceError(largest.f.name, largest.f.bytes.length, this.limitBytes);
    }
    return drop;
  }

  #notify(changed: VolumeFile[]): void {
    for (const f of changed) {
      const list = this.#old.get(f.name) ?? [];
      for (const k of [...list]) {
        try {
          k.file.seekSync(0, Deno.SeekMode.Start);
          writeAll(k.file, f.bytes);
          k.file.truncateSync(f.bytes.length);
        } catch {
          // Unpublished meanwhile, or no room after all: this inode's watchers go silent.
          this.#release(k);
        }
      }
    }
  }

  #remember(name: string, file: Deno.FsFile): void {
    const list = this.#old.get(name) ?? [];
    list.push({ file, seq: this.#seq++ });
    // Index 0 is the inode the volume was published with: never dropped for age.
    while (list.length > KEEP_GENERATIONS + 1) list.splice(1, 1)[0]!.file.close();
    this.#old.set(name, list);
  }

  /** Closes one kept inode (a path string is an inode not kept yet: nothing to close). */
  #release(k: Kept | string): void {
    if (typeof k === "string") return;
    for (const [name, list] of this.#old) {
      const i = list.indexOf(k);
      if (i < 0) continue;
      list.splice(i, 1);
      if (!list.length) this.#old.delete(name);
      try {
        k.file.close();
      } catch { /* already closed */ }
      return;
    }
  }

  #forget(name: string): void {
    for (const k of this.#old.get(name) ?? []) k.file.close();
    this.#old.delete(name);
  }
}

function readOrUndefined(
  path: string,
): { bytes: Uint8Array; charged: number; mode: number } | undefined {
  try {
    const st = Deno.statSync(path);
    return { bytes: Deno.readFileSync(path), charged: charged(st), mode: (st.mode ?? 0) & 0o7777 };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}
