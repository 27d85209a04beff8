/** Reaps the zombies a container's first process inherits. The app is a `Deno.Command`
 * child, whose status Deno's runtime collects itself with waitpid(<its pid>): a
 * waitpid(-1) here could take that status first, and the runtime would then never learn how
 * the app ended. So the reaper lists this process's ended children in /proc and reaps each
 * by its own pid, never the app's: both waits then work, each on its own processes. It runs
 * on every SIGCHLD and on a slow timer (a SIGCHLD can stand for several ended children, and
 * one that arrives while a sweep runs is folded into it). */
import { becomeSubreaper, reapIfEnded } from "../sys/libc.ts";

/** At most this many /proc entries are looked at per sweep (a container's pid space is far
 * smaller; the bound keeps a sweep's cost fixed whatever /proc holds). */
const MAX_ENTRIES = 65_536;

/** Pids of ended (zombie) children of `parent` in `/proc`-like `root`, minus `except`. */
export function endedChildren(
  parent: number,
  except: ReadonlySet<number>,
  root = "/proc",
): number[] {
  const out: number[] = [];
  let seen = 0;
  for (const entry of Deno.readDirSync(root)) {
    if (++seen > MAX_ENTRIES) break;
    if (!/^\d+$/.test(entry.name)) continue;
    const pid = Number(entry.name);
    if (except.has(pid)) continue;
    let stat: string;
    try {
      stat = Deno.readTextFileSync(`${root}/${entry.name}/stat`);
    } catch {
      continue; // gone between the listing and the read
    }
    const fields = parseStat(stat);
    if (fields && fields.state === "Z" && fields.ppid === parent) out.push(pid);
  }
  return out;
}

/** State and parent pid from a /proc/<pid>/stat line; the command name may hold spaces and
 * parentheses, so fields are counted from the last ")". */
export function parseStat(line: string): { state: string; ppid: number } | undefined {
  const end = line.lastIndexOf(")");
  if (end < 0) return undefined;
  const [state, ppid] = line.slice(end + 2).split(" ");
  if (state === undefined || ppid === undefined || !/^\d+$/.test(ppid)) return undefined;
  return { state, ppid: Number(ppid) };
}

export interface Reaper {
  /** Reaped so far, for logs and tests. */
  readonly reaped: number;
  stop(): void;
}

/** Makes this process a subreaper (so orphans come to it also when it is not PID 1, as under
 * `shareProcessNamespace`) and reaps every ended child but the pids in `own`. */
export function startReaper(own: ReadonlySet<number>, sweepMs: number): Reaper {
  becomeSubreaper(); // fails only on kernels before 3.4; PID 1 reaps orphans without it
  let reaped = 0;
  const self = Deno.pid;
  const sweep = () => {
    for (const pid of endedChildren(self, own)) if (reapIfEnded(pid) === pid) reaped++;
  };
  const onChild = () => sweep();
  Deno.addSignalListener("SIGCHLD", onChild);
  const timer = setInterval(sweep, sweepMs);
  return {
    get reaped() {
      return reaped;
    },
    stop() {
      clearInterval(timer);
      Deno.removeSignalListener("SIGCHLD", onChild);
    },
  };
}
