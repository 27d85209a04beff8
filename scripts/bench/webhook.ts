/** Benchmark: admission latency (p50/p99) and throughput of `webhook serve` over HTTPS on
 * loopback at concurrency 1, 16 and 64, for annotated Pods with a command, and for Pods
 * without one whose image entrypoint is already cached; plus the server's resident memory.
 * Run: deno run -A scripts/bench/webhook.ts [requests-per-cell] [--workers=N] [--wrk]
 * [--repeat=N] [--binary=dist/secrets-store] [--slowloris=N]
 * (needs scripts/peers/install.sh). --wrk drives the load with wrk (Debian's package, a C
 * client like the API server's Go one) instead of this script's own Deno client, which takes
 * a good part of the two cores itself; wrk runs each cell for 10 s, after 5 s of warm-up per
 * kind of Pod at 64 connections (the JIT reaches its steady state). --repeat=N (with --wrk)
 * runs the 64-connection cells N more times, each followed by its floor (floorCell): what the
 * runtime and the machine allow at the same rate. --slowloris=N runs only the 1- and
 * 64-connection cells of Pods with a command, while scripts/attack/slowloris.ts (its own
 * process) holds N connections dripping a request head a byte every 2 s. */
import { startKube } from "../../tests/harness/kube.ts";
import { startRegistry } from "../../tests/harness/registry.ts";
import { startWebhook } from "../../tests/harness/webhook.ts";
import { silentLogger } from "../../lib/log/logger.ts";
import { MAX_BODY } from "../../lib/webhook/admission.ts";
import { serveHttps } from "../../lib/webhook/server.ts";
import { Http1Connection } from "./http1_client.ts";

const positional = Deno.args.filter((a) => !a.startsWith("--"));
const perCell = Number(positional[0] ?? 3000);
const workers = Number(Deno.args.find((a) => a.startsWith("--workers="))?.split("=")[1] ?? 1);
const useWrk = Deno.args.includes("--wrk");
// With --wrk: this many more runs of the 64-connection cells, each beside its floor.
const repeat = Number(Deno.args.find((a) => a.startsWith("--repeat="))?.split("=")[1] ?? 0);
// The deno compile executable instead of `deno run main.ts` (scripts/compile.sh).
const binary = Deno.args.find((a) => a.startsWith("--binary="))?.split("=")[1];
const slowloris = Number(Deno.args.find((a) => a.startsWith("--slowloris="))?.split("=")[1] ?? 0);
const dir = await Deno.makeTempDir({ prefix: "bench-webhook-" });
const kube = await startKube(dir);
const registry = await startRegistry(dir);
await registry.push.image("bench/app", "1", { entrypoint: ["/app"], cmd: ["serve"] });
const image = `${registry.host}/bench/app:1`;
const w = await startWebhook({
  dir,
  settings: [
    "connectionConfiguration: Manual",
    "connection: {url: 'https://store.example:8200'}",
    "injector: {image: 'registry.local/secrets-store:bench'}",
    "registry:",
    "  caCert: |",
    ...registry.caCert.trim().split("\n").map((l) => `    ${l}`),
  ].join("\n"),
  kube: { url: kube.url, caFile: kube.caFile, token: kube.webhookToken },
  workers,
  binary,
});
const auths = {
  [registry.host]: { username: registry.user.username, password: registry.user.password },
};
await kube.api("POST", "/api/v1/namespaces/default/secrets", {
  metadata: { name: "pull" },
  type: "kubernetes.io/dockerconfigjson",
  data: { ".dockerconfigjson": btoa(JSON.stringify({ auths })) },
});

function review(i: number, withCommand: boolean): string {
  return JSON.stringify({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: `u${i}`,
      kind: { group: "", version: "v1", kind: "Pod" },
      operation: "CREATE",
      namespace: "default",
      object: {
        metadata: {
          name: `p${i}`,
          annotations: { "secrets-store.deckhouse.io/role": "myapp-role" },
        },
        spec: {
          imagePullSecrets: [{ name: "pull" }],
          containers: [{
            name: "app",
            image,
            ...(withCommand ? { command: ["sh", "-c", "printenv"] } : {}),
            env: [{ name: "DB_PASS", value: "secrets-store:demo-kv/data/myapp-secret#DB_PASS" }],
          }],
        },
      },
    },
  });
}

/** The same cell driven by wrk: one thread, `concurrency` keep-alive connections. */
async function wrkCell(concurrency: number, withCommand: boolean, seconds = 10, url = w.url) {
  const script = `${dir}/post.lua`;
  await Deno.writeTextFile(
    script,
    [
      'wrk.method = "POST"',
      `wrk.body = [==[${review(0, withCommand)}]==]`,
      'wrk.headers["Content-Type"] = "application/json"',
      // Every answer must be a mutation: a refusal or an error would make a fast, false cell.
      "response = function(status, headers, body)",
      '  if status ~= 200 or not string.find(body, "patch", 1, true) then error("not mutated: " .. status) end',
      "end",
    ].join("\n"),
  );
  const out = await new Deno.Command("wrk", {
    args: [
      "-t1",
      `-c${concurrency}`,
      `-d${seconds}s`,
      "--latency",
      "-s",
      script,
      `${url}/mutate`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success || /Non-2xx|errors/.test(text)) throw new Error(`wrk: ${text}`);
  const ms = (p: string) => {
    const m = text.match(new RegExp(`${p}%\\s+([\\d.]+)(us|ms|s)`))!;
    return (Number(m[1]) * ({ us: 0.001, ms: 1, s: 1000 }[m[2] as "us" | "ms" | "s"])).toFixed(2);
  };
  return {
    p50: ms("50"),
    p99: ms("99"),
    rps: Math.round(Number(text.match(/Requests\/sec:\s+([\d.]+)/)![1])),
  };
}

/** The floor under a 64-connection cell at that moment: the webhook's HTTPS server
 * (lib/webhook/server.ts) in this otherwise idle process, answering every request with the
 * webhook's own answer for that Pod, fixed, after spinning on the clock for as long as makes
 * it serve `rps` a second, the webhook's rate. It costs as much CPU per request as an
 * admission but allocates nothing, awaits nothing and logs nothing, so its p99 is what the
 * runtime and the machine give at that rate. */
async function floorCell(withCommand: boolean, rps: number) {
  const conn = await Http1Connection.open(w.url, w.caCert);
  const body = (await conn.post("/mutate", review(0, withCommand))).body;
  conn.close();
  let spinMs = 0;
  const server = await serveHttps({
    hostname: "127.0.0.1",
    port: 0,
    certFile: w.certFile,
    keyFile: w.keyFile,
    bodyLimit: MAX_BODY,
    handler: () => {
      const until = performance.now() + spinMs;
      while (performance.now() < until) { /* the admission's CPU time */ }
      return { status: 200, contentType: "application/json", body };
    },
    logger: silentLogger,
  });
  const url = `https://127.0.0.1:${server.port}`;
  try {
    for (let i = 0; i < 3; i++) {
      const probe = await wrkCell(64, withCommand, 3, url);
      spinMs = Math.max(0, spinMs + 1000 / rps - 1000 / probe.rps);
    }
    return await wrkCell(64, withCommand, 10, url);
  } finally {
    await server.shutdown();
  }
}

/** One keep-alive connection per concurrent caller, as the API server's client pool holds. */
async function cell(concurrency: number, withCommand: boolean) {
  if (useWrk) return await wrkCell(concurrency, withCommand);
  const latencies: number[] = [];
  let next = 0;
  const conns = await Promise.all(
    Array.from({ length: concurrency }, () => Http1Connection.open(w.url, w.caCert)),
  );
  const started = performance.now();
  await Promise.all(conns.map(async (conn) => {
    while (next < perCell) {
      const body = review(next++, withCommand);
      const t = performance.now();
      const r = await conn.post("/mutate", body);
      if (!JSON.parse(r.body).response?.patch) {
        throw new Error(`not mutated: ${r.body.slice(0, 300)}`);
      }
      latencies.push(performance.now() - t);
    }
  }));
  conns.forEach((c) => c.close());
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const q = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!.toFixed(2);
  return { p50: q(0.5), p99: q(0.99), rps: Math.round(perCell / seconds) };
}

/** New connections one after another, each with one admission: the TLS handshake and the
 * first answer, which waits for the client's delayed ACK (40 ms) unless the server sets
 * TCP_NODELAY. */
async function freshConnections(n: number) {
  const latencies: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const conn = await Http1Connection.open(w.url, w.caCert);
    const r = await conn.post("/mutate", review(i, true));
    latencies.push(performance.now() - t);
    conn.close();
    if (!JSON.parse(r.body).response?.patch) throw new Error(`not mutated: ${r.body}`);
  }
  latencies.sort((a, b) => a - b);
  const q = (p: number) => latencies[Math.floor(p * (n - 1))]!.toFixed(2);
  return { p50: q(0.5), p99: q(0.99), max: q(1), over40: latencies.filter((l) => l >= 40).length };
}

/** The 1- and 64-connection cells while `n` connections drip their heads; RSS before, with
 * them held, and after they are gone. */
async function duringSlowloris(n: number) {
  await Deno.writeTextFile(`${dir}/webhook-ca.pem`, w.caCert);
  console.log("| Pod | concurrency | p50 (ms) | p99 (ms) | admissions/s | RSS (MiB) |");
  console.log("|---|---|---|---|---|---|");
  for (const c of [1, 64]) {
    const r = await cell(c, true);
    console.log(
      `| with command, no attack | ${c} | ${r.p50} | ${r.p99} | ${r.rps} | ${rssMiB()} |`,
    );
  }
  const before = rssMiB();
  const attacker = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../attack/slowloris.ts", import.meta.url).pathname,
      `--port=${new URL(w.url).port}`,
      `--ca-file=${dir}/webhook-ca.pem`,
      `--count=${n}`,
    ],
    stdout: "piped",
  }).spawn();
  const lines = attacker.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let held = "";
  while (!held.startsWith(`holding ${n} `)) {
    const { value, done } = await lines.read();
    if (done) throw new Error("the slowloris process ended");
    held = value.trim().split("\n").pop()!;
  }
  console.log(`slowloris of ${n} connections started (${held}); RSS ${before} MiB before it`);
  for (const c of [1, 64]) {
    const r = await cell(c, true);
    console.log(
      `| with command, slowloris ${n} | ${c} | ${r.p50} | ${r.p99} | ${r.rps} | ${rssMiB()} |`,
    );
  }
  attacker.kill("SIGKILL");
  await attacker.status;
  lines.releaseLock();
  await new Promise((r) => setTimeout(r, 12_000));
  console.log(`RSS ${rssMiB()} MiB after the slowloris ended`);
}

function rssMiB(): string {
  const pid = new TextDecoder().decode(
    new Deno.Command("pgrep", {
      args: ["-f", `webhook serve.*${new URL(w.url).port}`],
      stdout: "piped",
    }).outputSync().stdout,
  ).trim().split("\n")[0];
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return (Number(status.match(/VmRSS:\s+(\d+)/)![1]) / 1024).toFixed(0);
}

try {
  await cell(8, true); // warm-up: JIT and connection pool
  await cell(8, false); // warm-up, and the image entrypoint gets cached
  if (slowloris > 0) await duringSlowloris(slowloris);
  else await allCells();
} finally {
  await w.stop();
  await registry.stop();
  await kube.stop();
  await Deno.remove(dir, { recursive: true });
}

/** The benchmark's cells, as before --slowloris. */
async function allCells() {
  if (useWrk) { for (const withCommand of [true, false]) await wrkCell(64, withCommand, 5); }
  console.log(
    `${useWrk ? "wrk, 10 s" : `requests: ${perCell}`} per cell, --workers=${workers}, ${
      binary ?? `deno ${Deno.version.deno}`
    }, ${navigator.hardwareConcurrency} cores`,
  );
  console.log("| Pod | concurrency | p50 (ms) | p99 (ms) | admissions/s |");
  console.log("|---|---|---|---|---|");
  for (
    const [label, withCommand] of [["with command", true], [
      "no command, cached image",
      false,
    ]] as const
  ) {
    for (const c of [1, 16, 64]) {
      const r = await cell(c, withCommand);
      console.log(`| ${label} | ${c} | ${r.p50} | ${r.p99} | ${r.rps} |`);
    }
  }
  if (useWrk && repeat > 0) {
    console.log(
      `\n64 connections, ${repeat} more runs, each beside its floor (the same server, a fixed answer, as much CPU a request)`,
    );
    console.log(
      "| Pod | run | p50 (ms) | p99 (ms) | admissions/s | floor p50 | floor p99 | floor/s |",
    );
    console.log("|---|---|---|---|---|---|---|---|");
    for (let run = 1; run <= repeat; run++) {
      for (const withCommand of [true, false]) {
        const r = await wrkCell(64, withCommand);
        const f = await floorCell(withCommand, r.rps);
        console.log(
          `| ${
            withCommand ? "with command" : "no command, cached image"
          } | ${run} | ${r.p50} | ${r.p99} | ${r.rps} | ${f.p50} | ${f.p99} | ${f.rps} |`,
        );
      }
    }
  }
  const f = await freshConnections(200);
  console.log(
    `new connection + first admission, 200 in a row: p50 ${f.p50} ms, p99 ${f.p99} ms, max ${f.max} ms, ${f.over40} of 200 at 40 ms or more`,
  );
  console.log(`webhook resident memory after the run: ${rssMiB()} MiB`);
}
