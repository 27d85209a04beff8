/** Benchmark: one wrapped exec probe run (`inject --probe -- /bin/true`) under a watch mode's
 * supervisor, for two compiled executables (A, B: e.g. this branch and the one before it), and
 * the store requests each run makes (OpenBao's audit log). The container is the supervisor
 * (`restart-on-secret-change: watch-for-data`, 3 templates) as PID 1 of its own PID and mount
 * namespace (unshare); each probe enters it as a runtime's exec does (nsenter). Timing is
 * farm-bench's, A and B alternating. Run as root:
 * deno run -A scripts/bench/probe.ts <binary A> <binary B> [runs] */
import { startInjectBenchStore } from "./_inject_store.ts";
import { waitUntil } from "../../tests/harness/process.ts";

const [binA, binB] = [Deno.args[0], Deno.args[1]];
const runs = Number(Deno.args[2] ?? 20);
if (!binA || !binB) throw new TypeError("usage: probe.ts <binary A> <binary B> [runs]");
const dir = await Deno.makeTempDir({ prefix: "bench-probe-" });
const store = await startInjectBenchStore(dir);
const env = {
  ...store.injectorEnv(store.bao.address, 3),
  SECRETS_STORE_RESTART_ON_SECRET_CHANGE: "watch-for-data",
  SECRETS_STORE_SECRET_POLL_INTERVAL: "10m",
};
const container = new Deno.Command("unshare", {
  args: ["--pid", "--fork", "--mount-proc", "--", binA, "inject", "--", "/bin/sleep", "3600"],
  clearEnv: true,
  env,
  stdout: "null",
  stderr: "null",
}).spawn();
const children = async (pid: number) =>
  (await Deno.readTextFile(`/proc/${pid}/task/${pid}/children`)).trim().split(/\s+/)
    .filter((w) => w).map(Number);
let init = 0;
try {
  await waitUntil("the supervisor runs the app", async () => {
    init = (await children(container.pid))[0] ?? 0;
    return init > 0 && (await children(init)).length === 1;
  }, 30_000);
  // One script per executable: the probe's environment is the container's, as a runtime's
  // exec gives it.
  const script = async (name: string, bin: string) => {
    const vars = Object.entries(env).map(([k, v]) => `'${k}=${v}'`).join(" ");
    const path = `${dir}/${name}.sh`;
    await Deno.writeTextFile(
      path,
      `exec env -i ${vars} nsenter --target ${init} --pid --mount -- ${bin} inject --probe -- /bin/true\n`,
    );
    return path;
  };
  const [a, b] = [await script("a", binA), await script("b", binB)];
  const requests = async () =>
    (await Deno.readTextFile(store.bao.auditLog)).trim().split("\n")
      .filter((l) => JSON.parse(l).type === "request").length;
  for (const [name, path] of [["A", a], ["B", b]] as const) {
    const before = await requests();
    for (let i = 0; i < 10; i++) {
      const r = await new Deno.Command("sh", { args: [path], stdout: "null" }).output();
      if (!r.success) throw new Error(`${name}: ${new TextDecoder().decode(r.stderr)}`);
    }
    console.log(`${name}: ${((await requests()) - before) / 10} store requests per probe run`);
  }
  const bench = await new Deno.Command("farm-bench", {
    args: ["-n", String(runs), "--vs", `sh ${b}`, "--", "sh", a],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!bench.success) throw new Error("farm-bench failed");
} finally {
  if (init > 0) Deno.kill(init, "SIGKILL");
  await container.status;
  await store.stop();
  await Deno.remove(dir, { recursive: true });
}
