/** Benchmark: time from the injector's start to the app's first instruction, with 1, 10 and
 * 50 distinct paths, against a local OpenBao directly and through a proxy adding 5 ms per
 * chunk. Run: deno run -A scripts/bench/inject.ts [runs] [compiled-binary]
 * (needs scripts/peers/install.sh; without a binary, the injector runs under `deno run`). */
import { ROOT } from "../../tests/harness/process.ts";
import { startInjectBenchStore } from "./_inject_store.ts";

const runs = Number(Deno.args[0] ?? 7);
const binary = Deno.args[1];
const dir = await Deno.makeTempDir({ prefix: "bench-inject-" });
const store = await startInjectBenchStore(dir);
try {
  /** Milliseconds from spawn to the app's first instruction (the app prints its start time). */
  const once = async (address: string, paths: number, withStore: boolean): Promise<number> => {
    const vars = store.injectorEnv(address, withStore ? paths : 0);
    const t0 = Date.now();
    const [cmd, ...pre] = binary
      ? [binary]
      : [Deno.execPath(), "run", "-A", "--quiet", `${ROOT}/main.ts`];
    const out = await new Deno.Command(cmd!, {
      args: [...pre, "inject", "--", "/bin/date", "+%s%N"],
      clearEnv: true,
      env: vars,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
    return Number(new TextDecoder().decode(out.stdout).trim()) / 1e6 - t0;
  };
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const measure = async (address: string, paths: number, withStore = true) => {
    await once(address, paths, withStore); // warm the OS page cache and Deno's module cache
    const xs: number[] = [];
    for (let i = 0; i < runs; i++) xs.push(await once(address, paths, withStore));
    return median(xs);
  };

  const proxied = store.proxied;
  console.log(
    `runs per cell: ${runs} (median), ${
      binary ? `compiled binary ${binary}` : `deno run, deno ${Deno.version.deno}`
    }`,
  );
  console.log(`| distinct paths | direct (ms) | +5 ms proxy (ms) |`);
  console.log(`|---|---|---|`);
  console.log(
    `| 0 (no templates: Deno start + exec) | ${
      (await measure(store.bao.address, 0, false)).toFixed(0)
    } | - |`,
  );
  for (const n of [1, 10, 50]) {
    console.log(
      `| ${n} | ${(await measure(store.bao.address, n)).toFixed(0)} | ${
        (await measure(proxied, n)).toFixed(0)
      } |`,
    );
  }
} finally {
  await store.stop();
  await Deno.remove(dir, { recursive: true });
}
