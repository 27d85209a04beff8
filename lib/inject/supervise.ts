/** The watch modes' process model: the injector stays as the app's parent instead of
 * replacing itself, and does what a container's first process must. It passes the stop,
 * reload and user signals on to the app, reaps every zombie it inherits (reaper.ts), takes
 * the app's exit status as its own (128 + n for a death by signal n), and writes nothing to
 * stdout, which stays the app's. When the watch confirms a change it stops the app (SIGTERM,
 * then SIGKILL after the grace time), writes the termination message the kubelet shows in
 * `kubectl describe` and ends with exit code 2, so the kubelet restarts the container and the
 * injector resolves the new values at its next start. */
import type { Logger } from "../log/logger.ts";
import { startReaper } from "./reaper.ts";
import { exitCodeOf, FORWARDED } from "./signals.ts";
import { ExecError } from "./exec.ts";

/** The module's words, which users may match on. */
export const RESTART_MESSAGE = "secret values changed, restarting container";
/** The exit code of a restart for changed secrets. */
export const RESTART_EXIT_CODE = 2;
/** The module's grace time between SIGTERM and SIGKILL. */
export const STOP_GRACE_MS = 10_000;
/** A sweep for zombies besides the one on each SIGCHLD. */
const REAP_SWEEP_MS = 30_000;

export interface SuperviseOptions {
  path: string;
  argv: string[];
  env: Record<string, string>;
  logger: Logger;
  terminationLog: string;
  /** Starts watching once the app runs; `restart` stops the app for a confirmed change. */
  watch: (restart: () => void) => { stop(): Promise<void> };
  graceMs?: number;
}

/** Runs the app to its end; resolves to the exit code the injector must end with. */
export async function supervise(o: SuperviseOptions): Promise<number> {
  // The forwarders are in place before the app starts: a signal that came between the spawn
  // and their installation would end the injector by its default action and orphan the app.
  // (Listeners run on the event loop, so none runs before the synchronous spawn has set child.)
  let child: Deno.ChildProcess | undefined;
  const send = (sig: Deno.Signal) => {
    try {
      child?.kill(sig);
    } catch {
      // already ended: its status is on its way
    }
  };
  const forwarders = FORWARDED.map((sig) => [sig, () => send(sig)] as const);
  for (const [sig, f] of forwarders) Deno.addSignalListener(sig, f);
  const unforward = () => {
    for (const [sig, f] of forwarders) Deno.removeSignalListener(sig, f);
  };
  try {
    child = new Deno.Command(o.path, {
      args: o.argv.slice(1),
      env: o.env,
      clearEnv: true,
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
  } catch (e) {
    unforward();
    throw new ExecError(`Cannot start the app: ${o.path}: ${(e as Error).message}`, 126);
  }
  const app = child;
  const reaper = startReaper(new Set([app.pid]), REAP_SWEEP_MS);
  let restarting = false;
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const watch = o.watch(() => {
    // A change and a lease's end may both come: one stop is enough.
    if (restarting) return;
    restarting = true;
    o.logger.info(RESTART_MESSAGE, { pid: app.pid });
    send("SIGTERM");
    killTimer = setTimeout(() => {
      o.logger.warn("the app did not stop within the grace time; killed", { pid: app.pid });
      send("SIGKILL");
    }, o.graceMs ?? STOP_GRACE_MS);
  });
  const status = await app.status;
  clearTimeout(killTimer);
  await watch.stop();
  unforward();
  reaper.stop();
  if (!restarting) return exitCodeOf(status);
  try {
    Deno.writeTextFileSync(o.terminationLog, RESTART_MESSAGE + "\n");
  } catch (e) {
    o.logger.warn("cannot write the termination message", {
      file: o.terminationLog,
      reason: (e as Error).message,
    });
  }
  return RESTART_EXIT_CODE;
}
