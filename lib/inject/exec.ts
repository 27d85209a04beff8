/** Replaces this process with the app through libc's execve: same PID, no child left to
 * forward signals or exit codes, and nothing of the injector left in memory. */

import { errorText, execve as libcExecve } from "../sys/libc.ts";
import { type ExecState, resetForExec } from "./process_state.ts";

/** The command could not be started; exit codes follow the shell (127 not found, 126 not runnable). */
export class ExecError extends Error {
  override name = "ExecError";
  constructor(message: string, readonly exitCode: number) {
    super(message);
  }
}

const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Finds `command` the way execvp does, but on the app's PATH, not the injector's. */
export function lookPath(command: string, env: Record<string, string>): string {
  if (command === "") throw new ExecError("Cannot start the app: the command is empty", 127);
  if (command.includes("/")) {
    checkRunnable(command);
    return command;
  }
  const dirs = (env.PATH ?? DEFAULT_PATH).split(":").map((d) => d || ".");
  let denied: string | undefined;
  for (const dir of dirs) {
    const candidate = `${dir}/${command}`;
    try {
      checkRunnable(candidate);
      return candidate;
    } catch (e) {
      if ((e as ExecError).exitCode === 126) denied ??= candidate;
    }
  }
  if (denied) checkRunnable(denied);
  throw new ExecError(
    `Cannot start the app: "${command}" not found in PATH=${env.PATH ?? DEFAULT_PATH}`,
    127,
  );
}

function checkRunnable(path: string): void {
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(path);
  } catch {
    throw new ExecError(`Cannot start the app: ${path} does not exist`, 127);
  }
  if (!info.isFile) throw new ExecError(`Cannot start the app: ${path} is not a file`, 126);
  if (info.mode !== null && (info.mode & 0o111) === 0) {
    throw new ExecError(`Cannot start the app: ${path} is not executable`, 126);
  }
}

const enc = new TextEncoder();
const cString = (s: string) => enc.encode(s + "\0");

/** Never returns on success. On failure throws ExecError naming the path and errno. The
 * process state (signals, mask, limits) is put back first, see process_state.ts. */
export function execve(
  path: string,
  argv: string[],
  env: Record<string, string>,
  state: ExecState = {},
): never {
  const envp = Object.entries(env).map(([k, v]) => cString(`${k}=${v}`));
  try {
    resetForExec(state);
  } catch (e) {
    throw new ExecError(`Cannot start the app: ${(e as Error).message}`, 126);
  }
  const errno = libcExecve(cString(path), argv.map(cString), envp);
  throw new ExecError(
    `Cannot start the app: execve ${path}: ${errorText(errno)}`,
    errno === 2 ? 127 : 126,
  );
}
