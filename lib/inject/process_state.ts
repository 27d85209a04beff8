/** What the app inherits from the injector besides its environment, put back right before
 * execve to what a directly started app would find. The runtime changes three things before
 * any JS runs, and each would survive execve:
 * - SIGPIPE is ignored (Rust's standard library does it in every Deno binary), and an ignored
 *   disposition is inherited: `yes | head -n1` would print "Broken pipe", and so would every
 *   child of the app. Every disposition goes back to SIG_DFL; handlers would become SIG_DFL at
 *   execve anyway.
 * - The signal mask is inherited too; it is emptied, as container runtimes start PID 1.
 * - The Deno CLI (`deno run`) raises the soft RLIMIT_NOFILE to the hard limit in its main()
 *   (cli/main.rs, raise_fd_limit); the compiled executable's runtime does not (cli/rt/main.rs;
 *   tests/compiled_test.ts checks it). No runtime changes another limit (checked with
 *   /proc/<pid>/limits for every limit under both). So the executable the webhook installs
 *   leaves the limit as it found it, and only under the CLI is there something to restore:
 *   there the original cannot be read back (the soft limit equals the hard one after the
 *   raise, whatever it was before), so the launcher passes it in SECRETS_STORE_RLIMIT_NOFILE.
 *   No default is guessed: a container runtime's soft limit is often the hard one
 *   (1048576:1048576), so "1024" would be wrong as often as right. */
import {
  defaultSignal,
  EINVAL,
  errorText,
  getRlimit,
  MAX_SIGNAL,
  RLIM_INFINITY,
  type Rlimit,
  RLIMIT_NOFILE,
  setRlimit,
  unblockAllSignals,
} from "../sys/libc.ts";
import { SETTINGS_ENV } from "../config/injector_env.ts";
import { SettingsError } from "./settings.ts";

/** What to set before execve; the plan is made early so a bad setting stops the injector
 * before any store request, and a warning is logged once. */
export interface ExecState {
  /** The soft RLIMIT_NOFILE to give the app; undefined leaves it as it is. */
  nofileSoft?: bigint;
}

export interface LimitPlan {
  state: ExecState;
  /** Said once in the log when the app will not get the limit it would have had. */
  warning?: string;
}

const SIGKILL = 9;
const SIGSTOP = 19;
const GLIBC_SIGNALS = new Set([32, 33]);

/** The plan for RLIMIT_NOFILE from the launcher's value (if any), the current limit and
 * whether this is the compiled executable. Throws SettingsError for a value above the hard
 * limit, which the launcher cannot have had. */
export function planLimits(
  launcherSoft: bigint | undefined,
  current: Rlimit,
  standalone: boolean,
): LimitPlan {
  if (launcherSoft !== undefined) {
    if (current.hard !== RLIM_INFINITY && launcherSoft > current.hard) {
      throw new SettingsError(
        `${SETTINGS_ENV.rlimitNofile}=${launcherSoft} is above the hard open-files limit ${current.hard}, so no launcher had it`,
      );
    }
    return { state: { nofileSoft: launcherSoft } };
  }
  if (!standalone && current.soft === current.hard) {
    return {
      state: {},
      warning:
        `running under the Deno CLI, which raises the soft open-files limit to the hard one (${current.hard}) before the injector starts: the app gets ${current.soft}; set ${SETTINGS_ENV.rlimitNofile}=$(ulimit -S -n) in the launcher to give it the original (the compiled executable leaves the limit alone)`,
    };
  }
  return { state: {} };
}

/** planLimits() for this process. */
export function planProcessLimits(launcherSoft: bigint | undefined): LimitPlan {
  return planLimits(launcherSoft, getRlimit(RLIMIT_NOFILE), Deno.build.standalone);
}

/** Applies the plan, every signal disposition back to SIG_DFL and an empty mask. Called right
 * before execve: from here on the injector itself must not need a signal or many files.
 * Throws an Error naming what could not be set. */
export function resetForExec(state: ExecState): void {
  for (let sig = 1; sig <= MAX_SIGNAL; sig++) {
    // glibc refuses its own signals 32 and 33 (its threads' cancel and set-id signals), so
    // nobody can have set them. They are skipped rather than asked: errno is read by a second
    // FFI call, and the runtime's own work on this thread in between may have changed it (a
    // refusal once came back as ENOENT).
    if (sig === SIGKILL || sig === SIGSTOP || GLIBC_SIGNALS.has(sig)) continue;
    const errno = defaultSignal(sig);
    if (errno !== 0 && errno !== EINVAL) {
      throw new Error(`cannot reset the disposition of signal ${sig}: ${errorText(errno)}`);
    }
  }
  const masked = unblockAllSignals();
  if (masked !== 0) throw new Error(`cannot empty the signal mask: ${errorText(masked)}`);
  if (state.nofileSoft !== undefined) {
    const { hard } = getRlimit(RLIMIT_NOFILE);
    const errno = setRlimit(RLIMIT_NOFILE, { soft: state.nofileSoft, hard });
    if (errno !== 0) {
      throw new Error(
        `cannot set the open-files limit to ${state.nofileSoft}: ${errorText(errno)}`,
      );
    }
  }
}
