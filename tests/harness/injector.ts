/** The injector under `deno run`, started as a container's first process would be, for the
 * tests that watch it run (restart-on-secret-change, leases): the app is `/bin/sh -c`. */
import { ROOT } from "./process.ts";

export const PATH = "/usr/local/bin:/usr/bin:/bin";

export interface Running {
  child: Deno.ChildProcess;
  /** The next line the app printed. */
  line(): Promise<string>;
  /** Exit code, what the app printed after the lines taken, and the injector's log, once it
   * has ended. */
  done: Promise<{ code: number; stdout: string; stderr: string }>;
}

/** Starts `inject -- /bin/sh -c <script>` with exactly `vars` (and PATH) as its environment. */
export function startInjector(vars: Record<string, string>, script: string): Running {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-all",
      "--quiet",
      `${ROOT}/main.ts`,
      "inject",
      "--",
      "/bin/sh",
      "-c",
      script,
    ],
    clearEnv: true,
    env: { PATH, ...vars },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  let ended = false;
  const read = async (): Promise<boolean> => {
    const { value, done } = await lines.read();
    if (done) ended = true;
    else buffered += value;
    return !done;
  };
  const line = async (): Promise<string> => {
    while (!buffered.includes("\n")) {
      if (ended || !await read()) throw new Error(`the app's stdout ended; it had "${buffered}"`);
    }
    const at = buffered.indexOf("\n");
    const l = buffered.slice(0, at);
    buffered = buffered.slice(at + 1);
    return l;
  };
  const stderr = new Response(child.stderr).text();
  const done = (async () => {
    const status = await child.status;
    while (!ended && await read());
    return { code: status.code, stdout: buffered, stderr: await stderr };
  })();
  return { child, line, done };
}
