/** Benchmark: the injector's start-up side by side with bank-vaults vault-env, alternating
 * run by run against the same OpenBao, ServiceAccount token, role and secrets, at 0, 1, 10 and
 * 50 distinct paths, directly and through a proxy that delays every client-to-server chunk
 * 5 ms. Each round runs, in turn: the compiled executable, the injector under `deno run`,
 * vault-env, and the compiled executable's `version`. Prints per cell the median ratio of
 * wall time (spawn to the app's first instruction; the app prints its own start time) with the
 * range of the pair-by-pair ratios, and each command's median wall time, CPU (user+sys) and
 * peak resident memory, from wait4's rusage of the process, which covers the injector and the
 * app it execve's into.
 *
 * Run by hand, not in CI (needs scripts/peers/install.sh and the compiled executable from
 * `deno task compile`):
 *   deno run -A scripts/bench/startup.ts [--runs=15] [--binary=dist/secrets-store]
 *     [--vault-env=<path>] [--paths=0,1,10,50] [--no-deno-run] [--baseline=<executable>]
 * --baseline adds an earlier build of the executable to each round, for before/after ratios.
 * The peer: a vault-env v1.23.0 executable built with the Go toolchain from bank-vaults'
 * public source repository (the Go module proxy does not serve that module); give its path
 * with --vault-env or VAULT_ENV_BIN. Without it only this project's commands run. */
import { ROOT } from "../../tests/harness/process.ts";
import { startInjectBenchStore } from "./_inject_store.ts";
import { spawnWithUsage, type Usage } from "./spawn_rusage.ts";

const flag = (name: string) =>
  Deno.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const runs = Number(flag("runs") ?? 15);
const binary = flag("binary") ?? `${ROOT}/dist/secrets-store`;
const vaultEnv = flag("vault-env") ?? Deno.env.get("VAULT_ENV_BIN");
const pathCounts = (flag("paths") ?? "0,1,10,50").split(",").map(Number);
const withDenoRun = !Deno.args.includes("--no-deno-run");
const baseline = flag("baseline");
const APP = ["/bin/date", "+%s%N"];

interface Sample {
  /** ms from spawn to the app's first instruction (undefined for `version`). */
  toApp?: number;
  /** ms from spawn to the end of the process (as reaped). */
  toExit: number;
  cpuMs: number;
  rssMiB: number;
}

interface Contender {
  name: string;
  /** argv (argv[0] is the path) and environment for one run at `paths` paths. */
  argv: (paths: number) => string[];
  env: (address: string, paths: number) => Record<string, string>;
  app: boolean;
}

const dir = await Deno.makeTempDir({ prefix: "bench-startup-" });
const store = await startInjectBenchStore(dir);
const { bao, tokenFile } = store;
try {
  const ours = store.injectorEnv;
  const contenders: Contender[] = [
    {
      name: "compiled",
      argv: () => [binary, "inject", "--", ...APP],
      env: ours,
      app: true,
    },
  ];
  if (baseline) {
    contenders.push({
      name: "baseline",
      argv: () => [baseline, "inject", "--", ...APP],
      env: ours,
      app: true,
    });
  }
  if (withDenoRun) {
    contenders.push({
      name: "deno run",
      argv:
        () => [Deno.execPath(), "run", "-A", "--quiet", `${ROOT}/main.ts`, "inject", "--", ...APP],
      env: ours,
      app: true,
    });
  }
  if (vaultEnv) {
    contenders.push({
      name: "vault-env",
      argv: () => [vaultEnv, ...APP],
      env: (address, paths) => {
        const vars: Record<string, string> = {
          PATH: "/usr/bin:/bin",
          HOME: dir, // no ~/.vault-token: it logs in with the ServiceAccount token
          VAULT_ADDR: address,
          VAULT_CACERT: bao.caFile,
          VAULT_ROLE: "bench",
          VAULT_PATH: "kubernetes_local",
          KUBERNETES_SERVICE_ACCOUNT_TOKEN: tokenFile,
        };
        for (let i = 0; i < paths; i++) vars[`S${i}`] = `vault:demo-kv/data/bench/s${i}#VALUE`;
        return vars;
      },
      app: true,
    });
  }
  contenders.push({
    name: "version",
    argv: () => [binary, "version"],
    env: () => ({ PATH: "/usr/bin:/bin" }),
    app: false,
  });

  const out = `${dir}/out`;
  const err = `${dir}/err`;
  const once = async (c: Contender, address: string, paths: number): Promise<Sample> => {
    const argv = c.argv(paths);
    const u: Usage = await spawnWithUsage(argv[0]!, argv, c.env(address, paths), out, err);
    const ended = performance.now();
    if (u.status !== 0) {
      throw new Error(`${c.name} failed (status ${u.status}): ${await Deno.readTextFile(err)}`);
    }
    const sample: Sample = {
      toExit: ended - u.startedAt,
      cpuMs: (u.userS + u.sysS) * 1000,
      rssMiB: u.maxRssKiB / 1024,
    };
    if (c.app) {
      const lines = (await Deno.readTextFile(out)).trim().split("\n");
      const appNs = Number(lines[lines.length - 1]);
      if (!Number.isFinite(appNs)) throw new Error(`${c.name}: the app printed no time`);
      sample.toApp = appNs / 1e6 - (performance.timeOrigin + u.startedAt);
    }
    return sample;
  };

  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  };
  const ratio = (a: number[], b: number[]) => {
    const r = a.map((x, i) => x / b[i]!);
    return `${median(r).toFixed(2)}× (${Math.min(...r).toFixed(2)}-${Math.max(...r).toFixed(2)})`;
  };
  const wall = (s: Sample) => s.toApp ?? s.toExit;

  console.log(
    `${runs} alternating rounds per cell after one warm-up round; deno ${Deno.version.deno}; ` +
      `compiled ${binary}; vault-env ${vaultEnv ?? "(not given)"}`,
  );
  const rows: string[] = [];
  for (const paths of pathCounts) {
    const addresses: [string, string][] = [["direct", bao.address]];
    if (paths > 0) addresses.push(["+5 ms", store.proxied]);
    for (const [label, address] of addresses) {
      await store.renewToken();
      const samples = new Map<string, Sample[]>(contenders.map((c) => [c.name, []]));
      for (let round = -1; round < runs; round++) {
        for (const c of contenders) {
          const s = await once(c, address, paths);
          if (round >= 0) samples.get(c.name)!.push(s);
        }
      }
      const get = (name: string) => samples.get(name) ?? [];
      const compiled = get("compiled");
      const ratios: string[] = [];
      for (const name of ["compiled", "deno run"]) {
        if (get(name).length && get("vault-env").length) {
          ratios.push(
            `${name}/vault-env ${ratio(get(name).map(wall), get("vault-env").map(wall))}`,
          );
        }
      }
      if (get("baseline").length) {
        ratios.push(
          `compiled/baseline ${ratio(compiled.map(wall), get("baseline").map(wall))}`,
          `cpu compiled/baseline ${
            ratio(compiled.map((s) => s.cpuMs), get("baseline").map((s) => s.cpuMs))
          }`,
        );
      }
      ratios.push(
        `compiled/version (to exit) ${
          ratio(compiled.map((s) => s.toExit), get("version").map((s) => s.toExit))
        }`,
      );
      if (get("vault-env").length) {
        ratios.push(
          `cpu compiled/vault-env ${
            ratio(compiled.map((s) => s.cpuMs), get("vault-env").map((s) => s.cpuMs))
          }`,
          `rss compiled/vault-env ${
            ratio(compiled.map((s) => s.rssMiB), get("vault-env").map((s) => s.rssMiB))
          }`,
        );
      }
      console.log(`\n${paths} paths, ${label}: ${ratios.join("; ")}`);
      for (const c of contenders) {
        const xs = get(c.name);
        const line = `| ${paths} | ${label} | ${c.name} | ${median(xs.map(wall)).toFixed(0)} | ${
          median(xs.map((s) => s.cpuMs)).toFixed(0)
        } | ${median(xs.map((s) => s.rssMiB)).toFixed(1)} |`;
        console.log(line);
        rows.push(line);
      }
    }
  }
  console.log("\n| paths | address | command | wall ms | cpu ms | peak RSS MiB |");
  console.log("|---|---|---|---|---|---|");
  for (const r of rows) console.log(r);
} finally {
  await store.stop();
  await Deno.remove(dir, { recursive: true });
}
