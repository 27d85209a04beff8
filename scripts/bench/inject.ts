/** Benchmark: time from the injector's start to the app's first instruction, with 1, 10 and
 * 50 distinct paths, against a local OpenBao directly and through a proxy adding 5 ms per
 * chunk. Run: deno run -A scripts/bench/inject.ts [runs] [compiled-binary] [--revoke]
 * (needs scripts/peers/install.sh; without a binary, the injector runs under `deno run`).
 * --revoke: 1 path only, the store token revoked before exec (the default) against
 * SECRETS_STORE_REVOKE_TOKEN=false, alternating run by run; prints both medians and the
 * median of the pair-by-pair differences. */
import { ROOT } from "../../tests/harness/process.ts";
import { startInjectBenchStore } from "./_inject_store.ts";

const args = Deno.args.filter((a) => a !== "--revoke");
const revokeOnly = args.length < Deno.args.length;
const runs = Number(args[0] ?? 7);
const binary = args[1];
const dir = await Deno.makeTempDir({ prefix: "bench-inject-" });
const store = await startInjectBenchStore(dir);
try {
  /** Milliseconds from spawn to the app's first instruction (the app prints its start time). */
  const once = async (
    address: string,
    paths: number,
    withStore: boolean,
    extra: Record<string, string> = {},
  ): Promise<number> => {
    const vars = { ...store.injectorEnv(address, withStore ? paths : 0), ...extra };
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
  if (revokeOnly) {
    const off = { SECRETS_STORE_REVOKE_TOKEN: "false" };
    console.log(`runs per cell: ${runs} (median), ${binary ?? "deno run"}, 1 path`);
    console.log(`| store | revoke on (ms) | revoke off (ms) | on - off, pair by pair (ms) |`);
    console.log(`|---|---|---|---|`);
    for (const [name, address] of [["direct", store.bao.address], ["+5 ms proxy", proxied]]) {
      await once(address!, 1, true);
      const [on, offs, diffs] = [[], [], []] as number[][];
      for (let i = 0; i < runs; i++) {
        const a = await once(address!, 1, true);
        const b = await once(address!, 1, true, off);
        on!.push(a), offs!.push(b), diffs!.push(a - b);
      }
      console.log(
        `| ${name} | ${median(on!).toFixed(0)} | ${median(offs!).toFixed(0)} | ${
          median(diffs!).toFixed(0)
        } |`,
      );
    }
  } else {
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
  }
} finally {
  await store.stop();
  await Deno.remove(dir, { recursive: true });
}
