/** A volume's files on its tmpfs. The first publish writes each file whole under a temporary
 * name (writeFiles); rotations go through rotation_writer.ts. The in-place alternative that
 * was measured against them lives with its benchmark (scripts/bench/in_place_writer.ts). */

/** One file of a volume: `name` is a single path segment, validated by the plan. */
export interface VolumeFile {
  name: string;
  bytes: Uint8Array;
}

/** Owner and mode of every file: 0o440 with the Pod's fsGroup as gid, else 0o444. */
export interface Ownership {
  uid?: number;
  gid?: number;
  mode: number;
}

/** First publish: writes every file into an empty dir, each under a temporary name renamed
 * into place once complete and owned, since nobody watches a file that does not exist yet. */
export function writeFiles(dir: string, files: VolumeFile[], own: Ownership): void {
  const taken = takenNames(dir, files);
  for (const f of files) createFile(dir, f, own, taken);
}

/** Writes `f` under a free temporary name, owns it, then renames it to its name. */
function createFile(dir: string, f: VolumeFile, own: Ownership, taken: Set<string>): void {
  let tmp = `.${f.name}.tmp`;
  while (taken.has(tmp)) tmp += "~";
  taken.add(tmp);
  const tmpPath = `${dir}/${tmp}`;
  const path = `${dir}/${f.name}`;
  let created = false;
  try {
    // 0o600 until complete and owned: nobody but root sees a partial value.
    using file = Deno.openSync(tmpPath, { write: true, createNew: true, mode: 0o600 });
    created = true;
    writeAll(file, f.bytes);
    applyOwnership(tmpPath, own);
    Deno.renameSync(tmpPath, path);
    created = false;
  } catch (e) {
    if (created) {
      try {
        Deno.removeSync(tmpPath);
      } catch { /* the write's own error is the one to report */ }
    }
    throw failure("write", path, e);
  } finally {
    taken.delete(tmp);
  }
}

/** Names a temporary file must avoid: the files to write and whatever the dir already holds,
 * so a file the caller left in place is never overwritten or removed. */
function takenNames(dir: string, files: VolumeFile[]): Set<string> {
  const taken = new Set(files.map((f) => f.name));
  for (const e of Deno.readDirSync(dir)) taken.add(e.name);
  return taken;
}

function writeAll(file: Deno.FsFile, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += file.writeSync(bytes.subarray(done));
}

/** chown before chmod: chown clears the setuid and setgid bits, and the mode must be last. */
export function applyOwnership(path: string, own: Ownership): void {
  if (own.uid !== undefined || own.gid !== undefined) {
    Deno.chownSync(path, own.uid ?? null, own.gid ?? null);
  }
  Deno.chmodSync(path, own.mode);
}

/** Names the path and the step, never the value. */
function failure(step: string, path: string, e: unknown): Error {
  return new Error(`Cannot ${step} ${path}: ${e instanceof Error ? e.message : String(e)}`, {
    cause: e,
  });
}
