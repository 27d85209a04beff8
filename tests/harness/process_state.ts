/** What a process inherits besides its environment, as the kernel reports it: open
 * descriptors, signal dispositions and mask (/proc/<pid>/status) and resource limits
 * (/proc/<pid>/limits). Used to compare an app started through the injector with the same
 * app started directly. */

/** The app: a shell listing its open descriptors (ls, so the shell opens no pipe of its own),
 * then cat printing its own status and limits. Not the shell's status: dash blocks every
 * signal while it forks, so a child reading it sometimes sees that. */
export const PRINT_STATE = [
  "/bin/sh",
  "-c",
  "ls /proc/$$/fd; exec cat /proc/self/status /proc/self/limits",
];

/** The soft open-files limit the launcher sets below the hard one, as a container runtime or
 * a login shell does (1024 is Linux's default), so a runtime that raises it is seen. */
export const LAUNCH_NOFILE = 1024;

/** A clean launcher, as a container runtime starts PID 1: every signal at its default, an
 * empty mask, the soft RLIMIT_NOFILE below the hard one; then exec. So the baseline does not
 * depend on what the test process got from whatever runs the tests (a nohup, a blocked mask).
 * Python, since a shell can neither unblock a signal nor un-ignore one it started with. */
const CLEAN_LAUNCH = `
import os, resource, signal, sys
for s in signal.valid_signals():
    if s not in (signal.SIGKILL, signal.SIGSTOP):
        try:
            signal.signal(s, signal.SIG_DFL)
        except (OSError, ValueError):
            pass  # glibc's own signals
signal.pthread_sigmask(signal.SIG_SETMASK, [])
resource.setrlimit(resource.RLIMIT_NOFILE, (${LAUNCH_NOFILE}, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
if sys.argv[1] == "tell":
    os.environ["SECRETS_STORE_RLIMIT_NOFILE"] = str(resource.getrlimit(resource.RLIMIT_NOFILE)[0])
os.execvp(sys.argv[2], sys.argv[2:])
`;

/** Starts `command` through the clean launcher; with `tell`, the launcher also says its soft
 * open-files limit in SECRETS_STORE_RLIMIT_NOFILE, as a launcher of the injector under the
 * Deno CLI must. */
export function launcher(command: string[], o: { tell: boolean }): string[] {
  return ["python3", "-c", CLEAN_LAUNCH, o.tell ? "tell" : "quiet", ...command];
}

/** True when `limits` (/proc/<pid>/limits) has the launcher's soft open-files limit. */
export function hasLaunchNofile(limits: string): boolean {
  return new RegExp(`^Max open files\\s+${LAUNCH_NOFILE}\\s`, "m").test(limits);
}

export interface ProcessState {
  /** The app's open descriptors. */
  fds: string;
  SigBlk: string;
  SigIgn: string;
  SigCgt: string;
  limits: string;
}

/** glibc's own signals 32 (SIGCANCEL) and 33 (SIGSETXID): sigaction refuses them (EINVAL), so
 * no program can set them, and what a child gets there is its launcher's business (Deno's
 * process spawner leaves both ignored in its children). Every other bit is compared. */
const GLIBC_INTERNAL = (1n << 31n) | (1n << 32n);

/** Parses PRINT_STATE's output. */
export function parseState(stdout: string): ProcessState {
  const at = stdout.indexOf("\nLimit ");
  const [status, limits] = [stdout.slice(0, at), stdout.slice(at + 1)];
  const field = (name: string) => {
    const hex = status.match(new RegExp(`^${name}:\\s*([0-9a-f]+)$`, "m"))?.[1];
    if (hex === undefined) throw new Error(`no ${name} in /proc/<pid>/status:\n${status}`);
    return (BigInt(`0x${hex}`) & ~GLIBC_INTERNAL).toString(16).padStart(16, "0");
  };
  const name = status.indexOf("Name:");
  if (name < 0) throw new Error(`no /proc/<pid>/status:\n${status}`);
  const fds = status.slice(0, name).trim().split("\n").sort((a, b) => Number(a) - Number(b))
    .join(" ");
  return {
    fds,
    SigBlk: field("SigBlk"),
    SigIgn: field("SigIgn"),
    SigCgt: field("SigCgt"),
    limits,
  };
}

/** Runs `argv` with `env` (and nothing else) and returns its state; fails on a non-zero exit. */
export async function stateOf(argv: string[], env: Record<string, string>): Promise<ProcessState> {
  const out = await new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    clearEnv: true,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  if (!out.success) {
    throw new Error(`${argv.join(" ")} exited ${out.code}: ${d.decode(out.stderr)}`);
  }
  return parseState(d.decode(out.stdout));
}
