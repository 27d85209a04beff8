/** Signals the supervisor passes on to the app, and the exit status it takes from the app:
 * the app's own code, or 128 + n for a death by signal n, as a shell reports it (and as the
 * kubelet would see it had the app been the container's first process). */

/** Linux signal numbers (x86_64 and aarch64 share them) of the signals a Deno child can end by. */
export const SIGNAL_NUMBERS: Readonly<Record<Deno.Signal, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGIOT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGSTKFLT: 16,
  SIGCHLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGIO: 29,
  SIGPOLL: 29,
  SIGPWR: 30,
  SIGSYS: 31,
  SIGUNUSED: 31,
  SIGEMT: 7,
  SIGINFO: 29,
  SIGBREAK: 21,
  SIGLOST: 29,
} as Record<Deno.Signal, number>;

/** What a container's first process is sent and should pass on: the stop signals, the
 * reload and user signals, and terminal resizes. */
export const FORWARDED: readonly Deno.Signal[] = [
  "SIGTERM",
  "SIGINT",
  "SIGHUP",
  "SIGQUIT",
  "SIGUSR1",
  "SIGUSR2",
  "SIGWINCH",
];

/** The exit code that stands for the app's end. */
export function exitCodeOf(status: { code: number; signal: Deno.Signal | null }): number {
  if (status.signal !== null) return 128 + (SIGNAL_NUMBERS[status.signal] ?? 0);
  return status.code;
}
