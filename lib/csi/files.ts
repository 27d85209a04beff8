/** A volume's files on its tmpfs. The first publish writes each file whole under a temporary
 * name (writeFiles); rotations go through rotation_writer.ts. The in-place alternative that
 * was measured against them lives with its benchmark (scripts/bench/in_place_writer.ts). */

/** One file of a volume: `name` is a single path segment, validated by the plan. */
export interface VolumeFile {
  name: string;
  bytes: Uint8Array;
  /** The SecretsStoreImport's `mode` for this file; the volume's default when unset. */
  mode?: number;
}

/** Owner and default mode of the files: 0o440 with the Pod's fsGroup as gid, else 0o444. */
export interface Ownership {
  uid?: number;
  gid?: number;
  mode: number;
}

/** First publish: writes every file into an empty dir, each under a temporary name renamed
 * into place once complete and owned, since nobody watches a file that does not exist yet. */
export function writeFiles(dir: string, files: VolumeFile[], own: Ownership): void {
  for (const f of files) createFile(dir, f, own);
}

/** Writes `f` under a temporary name, owns it, then renames it to its name. */
function createFile(dir: string, f: VolumeFile, own: Ownership): void {
  const path = `${dir}/${f.name}`;
  let tmp: string | undefined;
  try {
    // 0o600 until complete and owned: nobody but root sees a partial value.
    const t = createTemp(dir, 0o600);
    tmp = t.path;
    using file = t.file;
    writeAll(file, f.bytes);
    applyOwnership(tmp, own, f.mode);
    Deno.renameSync(tmp, path);
    tmp = undefined;
  } catch (e) {
    if (tmp) removeQuietly(tmp);
    throw failure("write", path, e);
  }
}

/** Temporary names are short and of fixed length, never the file's name plus a suffix: a
 * file name may use all of NAME_MAX (255 bytes), and its temporary name must still fit. */
const TEMP_PREFIX = ".tmp-";

/** A new, empty file under a free temporary name (`.tmp-` and 16 hex digits); createNew, so
 * a file of the volume that happens to have such a name is never overwritten. */
export function createTemp(dir: string, mode: number): { path: string; file: Deno.FsFile } {
  for (;;) {
    const path = `${dir}/${TEMP_PREFIX}${randomHex(8)}`;
    try {
      return { path, file: Deno.openSync(path, { write: true, createNew: true, mode }) };
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
  }
}

function randomHex(bytes: number): string {
  return [...crypto.getRandomValues(new Uint8Array(bytes))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Removes a temporary file after a failure; the failure is the error worth reporting. */
export function removeQuietly(path: string): void {
  try {
    Deno.removeSync(path);
  } catch { /* already gone */ }
}

export function writeAll(file: Deno.FsFile, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += file.writeSync(bytes.subarray(done));
}

/** chown before chmod: chown clears the setuid and setgid bits, and the mode must be last. */
export function applyOwnership(path: string, own: Ownership, mode?: number): void {
  if (own.uid !== undefined || own.gid !== undefined) {
    Deno.chownSync(path, own.uid ?? null, own.gid ?? null);
  }
  Deno.chmodSync(path, fileMode(own, mode));
}

/** A file's mode: its own when the SecretsStoreImport sets one, else the volume's default.
 * With an fsGroup the group may always read (the fsGroup rule): "0400" becomes 0o440, as the
 * kubelet adds group read to the volumes it gives an fsGroup; without one it stays 0o400,
 * readable by root only. */
export function fileMode(own: Ownership, mode?: number): number {
  if (mode === undefined) return own.mode;
  return own.gid !== undefined ? mode | 0o040 : mode;
}

/** Names the path and the step, never the value. */
function failure(step: string, path: string, e: unknown): Error {
  return new Error(`Cannot ${step} ${path}: ${e instanceof Error ? e.message : String(e)}`, {
    cause: e,
  });
}
