/** Runs one process through posix_spawn and reaps it with wait4, for benchmarks that need the
 * kernel's own accounting of a process that execve's another program: CPU time and peak
 * resident memory both carry across execve, so they cover the injector and the app it became
 * together, CPU at microsecond resolution (Deno.Command offers neither). Linux x86_64 and
 * aarch64 with glibc.
 *
 * The peak memory comes from GNU time (/usr/bin/time) run in between: glibc's posix_spawn
 * shares this process's memory until the child's execve, and the kernel counts the memory
 * left at an execve into the peak, so a child spawned from here would report this process's
 * own peak. GNU time forks from its own small image. wait4 on it still counts the CPU of the
 * child it reaped, plus its own (a millisecond or less). */

const SYMBOLS = {
  posix_spawn: {
    parameters: ["buffer", "buffer", "buffer", "pointer", "buffer", "buffer"],
    result: "i32",
  },
  posix_spawn_file_actions_init: { parameters: ["buffer"], result: "i32" },
  posix_spawn_file_actions_addopen: {
    parameters: ["buffer", "i32", "buffer", "i32", "u32"],
    result: "i32",
  },
  posix_spawn_file_actions_destroy: { parameters: ["buffer"], result: "i32" },
  // Blocks in a thread of its own, so the process's event loop (a latency proxy) runs on.
  wait4: { parameters: ["i32", "buffer", "i32", "buffer"], result: "i32", nonblocking: true },
} as const;

let lib: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;
const libc = () => (lib ??= Deno.dlopen("libc.so.6", SYMBOLS)).symbols;

/** glibc's posix_spawn_file_actions_t is 80 bytes; struct rusage 144. Both rounded up. */
const FILE_ACTIONS_SIZE = 128;
const RUSAGE_SIZE = 256;
const O_WRONLY_CREAT_TRUNC = 0o1101;

export interface Usage {
  /** Wait status as wait4 gives it (0: exited 0). */
  status: number;
  /** User and system CPU seconds of the process, across execve. */
  userS: number;
  sysS: number;
  /** Peak resident set of the process, across execve (ru_maxrss), in KiB. */
  maxRssKiB: number;
  /** performance.now() right before posix_spawn. */
  startedAt: number;
}

const enc = new TextEncoder();
const cstr = (s: string) => enc.encode(s + "\0");
const ptrArray = (items: Uint8Array[]) => {
  const a = new BigUint64Array(items.length + 1);
  items.forEach((b, i) => a[i] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(b))));
  return a;
};

/** Spawns `path` with `argv` (argv[0] included) and exactly `env`, its stdout and stderr
 * written to the given files; resolves when it has ended. */
export async function spawnWithUsage(
  path: string,
  argv: string[],
  env: Record<string, string>,
  stdoutFile: string,
  stderrFile: string,
): Promise<Usage> {
  const rssFile = `${stdoutFile}.rss`;
  argv = ["/usr/bin/time", "-f", "%M", "-o", rssFile, "--", path, ...argv.slice(1)];
  path = argv[0]!;
  const c = libc();
  const fa = new Uint8Array(FILE_ACTIONS_SIZE);
  const outPath = cstr(stdoutFile);
  const errPath = cstr(stderrFile);
  if (c.posix_spawn_file_actions_init(fa) !== 0) throw new Error("posix_spawn_file_actions_init");
  try {
    for (const [fd, p] of [[1, outPath], [2, errPath]] as const) {
      if (c.posix_spawn_file_actions_addopen(fa, fd, p, O_WRONLY_CREAT_TRUNC, 0o644) !== 0) {
        throw new Error("posix_spawn_file_actions_addopen");
      }
    }
    const argvC = argv.map(cstr);
    const envC = Object.entries(env).map(([k, v]) => cstr(`${k}=${v}`));
    const pathC = cstr(path);
    const pid = new Int32Array(1);
    const argvP = ptrArray(argvC);
    const envP = ptrArray(envC);
    const startedAt = performance.now();
    const rc = c.posix_spawn(pid, pathC, fa, null, argvP, envP);
    if (rc !== 0) throw new Error(`posix_spawn ${path}: errno ${rc}`);
    const status = new Int32Array(1);
    const ru = new BigInt64Array(RUSAGE_SIZE / 8);
    const got = await c.wait4(pid[0]!, status, 0, ru);
    if (got !== pid[0]) throw new Error(`wait4 ${pid[0]}: returned ${got}`);
    // struct rusage: ru_utime {sec, usec}, ru_stime {sec, usec}, ru_maxrss (KiB), ...
    const tv = (i: number) => Number(ru[i]!) + Number(ru[i + 1]!) / 1e6;
    return {
      status: status[0]!,
      userS: tv(0),
      sysS: tv(2),
      maxRssKiB: Number((await Deno.readTextFile(rssFile)).trim().split("\n").pop()),
      startedAt,
    };
  } finally {
    c.posix_spawn_file_actions_destroy(fa);
  }
}
