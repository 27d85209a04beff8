/** The standard process metrics (the names every Prometheus client library exports), read
 * from /proc at each scrape: the whole process, every thread included. Where /proc cannot be
 * read (not Linux), the families are left out rather than reported as zero. */
import { family } from "./exposition.ts";

/** /proc reports CPU times and the start time in USER_HZ ticks, which the kernel fixes at 100
 * for every program whatever its own tick rate (as Prometheus's own procfs reader assumes). */
const USER_HZ = 100;

export interface ProcessSample {
  cpuSeconds: number;
  residentBytes: number;
  virtualBytes: number;
  startTimeSeconds: number;
  openFds: number;
  /** The soft limit on open files; undefined when unlimited. */
  maxFds: number | undefined;
}

/** The fields of /proc/self/stat after the command name, which is in parentheses and may
 * itself hold spaces and parentheses: so the text is cut at the last ")". */
export function parseStat(text: string): {
  utime: number;
  stime: number;
  starttime: number;
  vsize: number;
} {
  const rest = text.slice(text.lastIndexOf(")") + 2).trim().split(/\s+/);
  // rest[0] is field 3 (state) of proc(5), so field n is rest[n - 3].
  const field = (n: number) => {
    const v = Number(rest[n - 3]);
    if (!Number.isFinite(v)) throw new TypeError(`Cannot parse /proc/self/stat field ${n}`);
    return v;
  };
  return { utime: field(14), stime: field(15), starttime: field(22), vsize: field(23) };
}

/** VmRSS of /proc/self/status, in bytes. */
export function parseResident(status: string): number {
  const m = status.match(/^VmRSS:\s+(\d+)\s+kB$/m);
  if (!m) throw new TypeError("Cannot parse VmRSS of /proc/self/status");
  return Number(m[1]) * 1024;
}

/** The boot time (btime of /proc/stat), in seconds since the epoch. */
export function parseBootTime(stat: string): number {
  const m = stat.match(/^btime\s+(\d+)$/m);
  if (!m) throw new TypeError("Cannot parse btime of /proc/stat");
  return Number(m[1]);
}

/** The soft "Max open files" of /proc/self/limits; undefined when unlimited. */
export function parseMaxFds(limits: string): number | undefined {
  const m = limits.match(/^Max open files\s+(\d+|unlimited)\s/m);
  if (!m) throw new TypeError("Cannot parse Max open files of /proc/self/limits");
  return m[1] === "unlimited" ? undefined : Number(m[1]);
}

/** One reading of /proc for this process; throws when /proc cannot be read. */
export function readProcess(): ProcessSample {
  const stat = parseStat(Deno.readTextFileSync("/proc/self/stat"));
  let openFds = 0;
  for (const _ of Deno.readDirSync("/proc/self/fd")) openFds++;
  return {
    cpuSeconds: (stat.utime + stat.stime) / USER_HZ,
    residentBytes: parseResident(Deno.readTextFileSync("/proc/self/status")),
    virtualBytes: stat.vsize,
    startTimeSeconds: parseBootTime(Deno.readTextFileSync("/proc/stat")) +
      stat.starttime / USER_HZ,
    openFds,
    maxFds: parseMaxFds(Deno.readTextFileSync("/proc/self/limits")),
  };
}

/** The process families as exposition lines; none when /proc cannot be read. */
export function processMetrics(read: () => ProcessSample = readProcess): string[] {
  let p: ProcessSample;
  try {
    p = read();
  } catch {
    return [];
  }
  return [
    ...family(
      "process_cpu_seconds_total",
      "counter",
      "Total user and system CPU time spent in seconds.",
      [
        { value: p.cpuSeconds },
      ],
    ),
    ...family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", [
      { value: p.residentBytes },
    ]),
    ...family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", [
      { value: p.virtualBytes },
    ]),
    ...family(
      "process_start_time_seconds",
      "gauge",
      "Start time of the process since unix epoch in seconds.",
      [{ value: p.startTimeSeconds }],
    ),
    ...family("process_open_fds", "gauge", "Number of open file descriptors.", [
      { value: p.openFds },
    ]),
    ...family("process_max_fds", "gauge", "Maximum number of open file descriptors.", [
      { value: p.maxFds ?? Infinity },
    ]),
  ];
}
