/** Benchmark: time from the injector's start to the app's first instruction, with 1, 10 and
 * 50 distinct paths, against a local OpenBao directly and through a proxy adding 5 ms per
 * chunk. Run: deno run -A scripts/bench/inject.ts [runs] [compiled-binary]
 * (needs scripts/peers/install.sh; without a binary, the injector runs under `deno run`). */
import { startKube } from "../../tests/harness/kube.ts";
import { startOpenBao } from "../../tests/harness/openbao.ts";
import { ROOT } from "../../tests/harness/process.ts";
import { baoApi, GUIDE, prepareGuideStore } from "../../tests/harness/store_setup.ts";
import { startLatencyProxy } from "../../tests/harness/latency_proxy.ts";

const runs = Number(Deno.args[0] ?? 7);
const binary = Deno.args[1];
const dir = await Deno.makeTempDir({ prefix: "bench-inject-" });
const [bao, kube] = await Promise.all([startOpenBao(dir), startKube(dir)]);
try {
  await prepareGuideStore(bao, kube);
  const api = baoApi(bao);
  for (let i = 0; i < 50; i++) {
    await api("PUT", `demo-kv/data/bench/s${i}`, { data: { VALUE: `v${i}` } });
  }
  await api("PUT", "sys/policies/acl/bench", {
    policy: 'path "demo-kv/data/bench/*" { capabilities = ["read"] }',
  });
  await api("PUT", "auth/kubernetes_local/role/bench", {
    bound_service_account_names: GUIDE.serviceAccount,
    bound_service_account_namespaces: GUIDE.namespace,
    policies: "bench",
  });
  const tokenFile = `${dir}/token`;
  await Deno.writeTextFile(tokenFile, await kube.tokenFor(GUIDE.namespace, GUIDE.serviceAccount));
  const proxy = startLatencyProxy({
    hostname: "127.0.0.1",
    port: Number(new URL(bao.address).port),
  }, 5);

  /** Milliseconds from spawn to the app's first instruction (the app prints its start time). */
  const once = async (address: string, paths: number, store: boolean): Promise<number> => {
    const vars: Record<string, string> = {
      PATH: "/usr/bin:/bin",
      SECRETS_STORE_ADDR: address,
      SECRETS_STORE_ROLE: "bench",
      SECRETS_STORE_CA_FILE: bao.caFile,
      SECRETS_STORE_TOKEN_FILE: tokenFile,
    };
    if (store) {
      for (let i = 0; i < paths; i++) {
        vars[`S${i}`] = `secrets-store:demo-kv/data/bench/s${i}#VALUE`;
      }
    }
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
  const measure = async (address: string, paths: number, store = true) => {
    await once(address, paths, store); // warm the OS page cache and Deno's module cache
    const xs: number[] = [];
    for (let i = 0; i < runs; i++) xs.push(await once(address, paths, store));
    return median(xs);
  };

  const proxied = `https://127.0.0.1:${proxy.port}`;
  console.log(
    `runs per cell: ${runs} (median), ${
      binary ? `compiled binary ${binary}` : `deno run, deno ${Deno.version.deno}`
    }`,
  );
  console.log(`| distinct paths | direct (ms) | +5 ms proxy (ms) |`);
  console.log(`|---|---|---|`);
  console.log(
    `| 0 (no templates: Deno start + exec) | ${
      (await measure(bao.address, 0, false)).toFixed(0)
    } | - |`,
  );
  for (const n of [1, 10, 50]) {
    console.log(
      `| ${n} | ${(await measure(bao.address, n)).toFixed(0)} | ${
        (await measure(proxied, n)).toFixed(0)
      } |`,
    );
  }
  await proxy.close();
} finally {
  await Promise.all([bao.stop(), kube.stop()]);
  await Deno.remove(dir, { recursive: true });
}
