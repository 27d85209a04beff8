/** Bounded reads of another process's files under /proc (or a test's stand-in directory), for
 * a wrapped exec probe (probe_env.ts). Each read gives its bytes or undefined: a process that
 * is gone, a file the probe's user may not read and a file over its limit are all "cannot
 * tell", and the probe then asks the store. */

/** The most of an environment read; a larger one is not parsed and the store is asked. */
export const ENVIRON_LIMIT = 1024 * 1024;
/** `task/<tid>/children` and `status` are a few hundred bytes; past this they are not ours. */
const SMALL_LIMIT = 64 * 1024;

/** A process's environment as read: its bytes, or why there are none. */
export type Environ = Uint8Array | "unreadable" | "too large";

/** `<procRoot>/<pid>/environ`, at most ENVIRON_LIMIT bytes. */
export async function readEnviron(procRoot: string, pid = 1): Promise<Environ> {
  const got = await readBounded(`${procRoot}/${pid}/environ`, ENVIRON_LIMIT);
  return got === undefined ? "unreadable" : got === "too large" ? "too large" : got;
}

/** The children of `pid`'s main thread (`task/<pid>/children`, Linux 4.2+ with
 * CONFIG_PROC_CHILDREN): the process it started and the orphans it adopted. Undefined when
 * the list cannot be read or is not a list of pids. */
export async function readChildren(procRoot: string, pid: number): Promise<number[] | undefined> {
  const got = await readText(`${procRoot}/${pid}/task/${pid}/children`);
  if (got === undefined) return undefined;
  const words = got.split(/\s+/).filter((w) => w !== "");
  if (!words.every((w) => /^[1-9][0-9]{0,9}$/.test(w))) return undefined;
  return words.map(Number);
}

/** From `<pid>/status`: the parent's pid and the real, effective, saved and filesystem uids. */
export interface ProcStatus {
  ppid: number;
  uids: string;
}

export async function readStatus(procRoot: string, pid: number): Promise<ProcStatus | undefined> {
  const got = await readText(`${procRoot}/${pid}/status`);
  if (got === undefined) return undefined;
  const field = (name: string) => got.match(new RegExp(`^${name}:\\s*(.*)$`, "m"))?.[1]?.trim();
  const ppid = field("PPid");
  const uids = field("Uid");
  if (ppid === undefined || !/^[0-9]+$/.test(ppid) || uids === undefined) return undefined;
  return { ppid: Number(ppid), uids: uids.split(/\s+/).join(" ") };
}

/** The mount namespace `pid` is in (`ns/mnt`, e.g. `mnt:[4026532291]`): a process of the same
 * container has the same one. */
export async function readMountNs(procRoot: string, pid: number): Promise<string | undefined> {
  try {
    return await Deno.readLink(`${procRoot}/${pid}/ns/mnt`);
  } catch {
    return undefined;
  }
}

async function readText(path: string): Promise<string | undefined> {
  const got = await readBounded(path, SMALL_LIMIT);
  if (got === undefined || got === "too large") return undefined;
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(got);
  } catch {
    return undefined;
  }
}

/** Proc files have no size, so each is read until its end or one byte past the limit. */
async function readBounded(
  path: string,
  limit: number,
): Promise<Uint8Array | "too large" | undefined> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch {
    return undefined;
  }
  try {
    const buf = new Uint8Array(limit + 1);
    let n = 0;
    while (n < buf.length) {
      const got = await file.read(buf.subarray(n));
      if (got === null) break;
      n += got;
    }
    return n > limit ? "too large" : buf.slice(0, n);
  } catch {
    return undefined;
  } finally {
    file.close();
  }
}
