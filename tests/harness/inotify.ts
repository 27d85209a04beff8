/** The usage guide's inotify example (a watch on the file itself, Python, standard library
 * only: inotify_watch.py), run beside a test; its event lines are collected as they come. */
import { ROOT } from "./process.ts";

/** Starts watching `file` for `seconds`; resolves once the watch is in place. */
export async function watchFile(file: string, seconds: number) {
  const child = new Deno.Command("python3", {
    args: [`${ROOT}/tests/harness/inotify_watch.py`, file, String(seconds)],
    stdout: "piped",
  }).spawn();
  const lines: string[] = [];
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  const ready = new Promise<void>((resolve) => {
    (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        const parts = buf.split("\n");
        buf = parts.pop()!;
        for (const l of parts) l === "READY" ? resolve() : lines.push(l);
      }
    })();
  });
  await ready;
  return {
    lines,
    stop: async () => {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}
