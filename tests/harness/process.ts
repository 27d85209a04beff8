/** Starting and stopping the real servers tests run against. */

/** Repository root, so helpers work from any working directory. */
export const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");
/** Where scripts/peers/ put the server binaries. */
export const PEERS_BIN = `${ROOT}/.peers/bin`;

/** Path of a peer binary; a clear failure when the install step was skipped. */
export function peerBinary(name: string): string {
  const path = `${PEERS_BIN}/${name}`;
  try {
    Deno.statSync(path);
  } catch {
    throw new Error(`${path} is missing: run scripts/peers/install.sh (or scripts/test.sh) first`);
  }
  return path;
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

export interface Server {
  name: string;
  logFile: string;
  stop(): Promise<void>;
}

/** Spawns `cmd` with output to `<dir>/<name>.log`, for reading when something fails. */
export function spawnServer(
  name: string,
  dir: string,
  cmd: string,
  args: string[],
  env?: Record<string, string>,
): Server {
  const logFile = `${dir}/${name}.log`;
  // The server writes its output straight into the log file (through sh's redirection), so
  // the log is complete at any moment, without a pump in this process.
  const child = new Deno.Command("sh", {
    args: ["-c", 'log=$1; shift; exec "$@" >>"$log" 2>&1', "sh", logFile, cmd, ...args],
    ...(env ? { env } : {}),
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let stopped = false;
  // A filtered or interrupted run may never reach the code that stops this server; the test
  // file's unload still kills it (synchronously: nothing asynchronous runs at unload).
  const kill = () => {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  };
  globalThis.addEventListener("unload", kill);
  return {
    name,
    logFile,
    async stop() {
      if (stopped) return;
      stopped = true;
      globalThis.removeEventListener("unload", kill);
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      const timer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }, 5000);
      await child.status;
      clearTimeout(timer);
    },
  };
}

/** Polls `check` until it returns true; fails with the server's log tail after `timeoutMs`. */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  logFile?: string,
) {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const tail = logFile ? "\n--- " + logFile + " ---\n" + tailOf(logFile) : "";
  throw new Error(`${what} not ready after ${timeoutMs} ms (${last ?? "no answer"})${tail}`);
}

function tailOf(file: string): string {
  try {
    return Deno.readTextFileSync(file).split("\n").slice(-30).join("\n");
  } catch {
    return "(no log)";
  }
}

/** Runs a command to completion; throws with its stderr when it fails. */
export async function runOk(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
  const text = new TextDecoder();
  if (!out.success) throw new Error(`${cmd} ${args.join(" ")} failed: ${text.decode(out.stderr)}`);
  return text.decode(out.stdout);
}
