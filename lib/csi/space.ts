/** A volume's tmpfs size limit, counted as tmpfs counts it: whole pages per file, for the
 * files on their paths and for the replaced inodes the rotation writer keeps for watchers.
 * A write that would not fit is refused before it starts, naming the setting that raises it. */

const PAGE = 4096;

/** Bytes tmpfs charges for a file of `length` bytes. */
export function pages(length: number): number {
  return Math.ceil(length / PAGE) * PAGE;
}

/** Bytes tmpfs charges for a file as it is now: its allocated blocks. */
export function charged(info: Deno.FileInfo): number {
  return (info.blocks ?? Math.ceil(info.size / PAGE) * 8) * 512;
}

/** Where the limit is set, for the message a user acts on. */
export const SIZE_SETTING = "--volume-size (chart value csi.volumeSize)";

/** A file that does not fit in the volume; the message names the file, its size, the limit
 * and the setting, never the value. */
export class SpaceError extends Error {
  override name = "SpaceError";
  constructor(readonly file: string, readonly size: number, readonly limit: number) {
    super(
      `file "${file}" (${size} bytes) does not fit in the volume: its files and the replaced copies kept for watchers may use at most ${limit} bytes; raise ${SIZE_SETTING}`,
    );
  }
}

/** A publish's files, written into an empty volume, fit within `limit`; else SpaceError
 * naming the largest file. */
export function checkFits(files: { name: string; bytes: Uint8Array }[], limit: number): void {
  const total = files.reduce((sum, f) => sum + pages(f.bytes.length), 0);
  if (total <= limit) return;
  const largest = files.reduce((a, b) => (b.bytes.length > a.bytes.length ? b : a));
  throw new SpaceError(largest.name, largest.bytes.length, limit);
}

/** ENOSPC as Deno reports it (there is no error class of its own). */
export function isNoSpace(e: unknown): boolean {
  return e instanceof Error && /os error 28\b|No space left/.test(e.message);
}
