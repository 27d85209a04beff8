/** Benchmark: resident memory of the injector's supervisor (restart-on-secret-change) while
 * the app sleeps, against a local OpenBao with the real Kubernetes auth. Samples VmRSS of the
 * supervisor after its first poll and then after `seconds` of polling every 300 ms (the
 * tests-only minimum lowers the 5 s floor so many polls fit in a short run).
 * Run: deno run -A scripts/bench/watch_rss.ts <compiled-binary> [seconds] [paths]
 * (needs scripts/peers/install.sh). Extra variables for the supervisor (e.g. V8 flags) are
 * passed through from WATCH_RSS_ENV as NAME=value,NAME=value. */
import { startInjectBenchStore } from "./_inject_store.ts";

const binary = Deno.args[0];
if (!binary) throw new Error("usage: watch_rss.ts <compiled-binary> [seconds] [paths]");
const seconds = Number(Deno.args[1] ?? 20);
const paths = Number(Deno.args[2] ?? 10);
const dir = await Deno.makeTempDir({ prefix: "bench-watch-" });
const store = await startInjectBenchStore(dir);
/** VmRSS, and its anonymous and file-backed parts (the executable's pages), in MiB. */
const rss = (pid: number) => {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const mib = (field: string) => {
    const m = status.match(new RegExp(`${field}:\\s+(\\d+) kB`));
    return m ? Math.round(Number(m[1]) / 102.4) / 10 : NaN;
  };
  return `${mib("VmRSS")} (anon ${mib("RssAnon")}, file ${mib("RssFile")})`;
};
try {
  const vars: Record<string, string> = {
    ...store.injectorEnv(store.bao.address, paths),
    SECRETS_STORE_RESTART_ON_SECRET_CHANGE: "watch-for-data",
    SECRETS_STORE_SECRET_POLL_INTERVAL: "300ms",
    SECRETS_STORE_TEST_POLL_MINIMUM: "100ms",
    SECRETS_STORE_TERMINATION_LOG: `${dir}/termination-log`,
  };
  for (const kv of (Deno.env.get("WATCH_RSS_ENV") ?? "").split(",").filter((s) => s)) {
    vars[kv.slice(0, kv.indexOf("="))] = kv.slice(kv.indexOf("=") + 1);
  }
  const child = new Deno.Command(binary, {
    args: ["inject", "--", "/bin/sh", "-c", `echo started; exec sleep ${seconds + 30}`],
    clearEnv: true,
    env: vars,
    stdout: "piped",
    stderr: Deno.env.get("WATCH_RSS_STDERR") ? "inherit" : "null",
  }).spawn();
  const reader = child.stdout.getReader();
  await reader.read(); // the app's "started": resolution is over, the supervisor idles
  const samples: string[] = [];
  for (let s = 0; s <= seconds; s += 5) {
    samples.push(rss(child.pid));
    await new Promise((r) => setTimeout(r, 5_000));
  }
  console.log(
    `paths=${paths} polls every 300 ms; VmRSS MiB at 0, 5, 10, … s:\n${samples.join("\n")}`,
  );
  child.kill("SIGTERM");
  await child.status;
  await reader.cancel();
} finally {
  await store.stop();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}
