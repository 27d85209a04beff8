/** Attack run: `webhook serve` as its own process on 127.0.0.1, then, one kind at a time,
 * `--count` hostile connections (tests/harness/hostile.ts: stalled and half-done TLS
 * handshakes, heads dripped a byte every 2 s, 4 MiB bodies that stall, idle kept-alive
 * connections; `flood` is idle ones at 1.5 times the connection cap). During each, a
 * well-formed admission is sent every 250 ms on a fresh connection and checked. Prints per
 * kind: the server's RSS before, at its peak and after; how many hostile connections the
 * server closed and when; the slowest admission. Connects only to 127.0.0.1; every phase is
 * bounded by its deadline plus 15 s, the count by 5,000.
 * Run: deno run -A scripts/attack/webhook.ts [--count=1000] [--kinds=a,b] [--binary=PATH]
 * (deno from scripts/install-deno.sh, the real binary: RSS is the webhook's own). */
import { type HostileKind, LOOPBACK, openMany } from "../../tests/harness/hostile.ts";
import { makeCa } from "../../tests/harness/pki.ts";
import { startWebhook } from "../../tests/harness/webhook.ts";
import { Http1Connection } from "../bench/http1_client.ts";

const arg = (name: string) => Deno.args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
const count = Math.min(5_000, Number(arg("count") ?? 1000));
const ALL = [
  "stalled-handshake",
  "half-handshake",
  "dripped-head",
  "stalled-body",
  "idle",
  "flood",
];
const kinds = (arg("kinds") ?? ALL.join(",")).split(",");
for (const k of kinds) if (!ALL.includes(k)) throw new TypeError(`Unknown kind "${k}"`);
const binary = arg("binary");

/** The limits under test: the chart's defaults, but idle connections closed after 20 s
 * instead of 120 s, so that the run stays short. */
const LIMITS = {
  maxConnections: 1000,
  handshakeTimeout: "5s",
  headTimeout: "10s",
  bodyTimeout: "30s",
  idleTimeout: "20s",
};
/** Which deadline closes each kind (ms): the body's 30 s is not reached by the bodies over
 * the budget, which are refused at once and closed after the 2 s linger. */
const DEADLINE_MS: Record<string, number> = {
  "stalled-handshake": 5_000,
  "half-handshake": 5_000,
  "dripped-head": 10_000,
  "stalled-body": 30_000,
  "idle": 20_000,
  "flood": 20_000,
};

const dir = await Deno.makeTempDir({ prefix: "attack-webhook-" });
const unusedKubeCa = await makeCa(dir, "unused-kube-ca");
const w = await startWebhook({
  dir,
  settings: [
    "connectionConfiguration: Manual",
    "connection: {url: 'https://store.example:8200'}",
    "injector: {image: 'registry.local/secrets-store:attack'}",
    `limits: ${JSON.stringify(LIMITS)}`,
  ].join("\n"),
  // Pods with a command need no API call; the address is never dialled.
  kube: { url: "https://127.0.0.1:9", caFile: unusedKubeCa.certFile, token: "unused" },
  binary,
});
const port = Number(new URL(w.url).port);
if (new URL(w.url).hostname !== LOOPBACK) throw new Error(`not loopback: ${w.url}`);
const pid = serverPid(port);

const review = (i: number) =>
  JSON.stringify({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid: `attack-${i}`,
      kind: { group: "", version: "v1", kind: "Pod" },
      operation: "CREATE",
      namespace: "default",
      object: {
        metadata: { name: `p${i}`, annotations: { "secrets-store.deckhouse.io/role": "r" } },
        spec: { containers: [{ name: "app", image: "a", command: ["sh"] }] },
      },
    },
  });

/** One admission on a fresh connection; ms taken, or -1 if the answer was wrong or failed. */
async function admission(i: number): Promise<number> {
  const started = performance.now();
  try {
    const c = await Http1Connection.open(w.url, w.caCert);
    try {
      const r = await c.post("/mutate", review(i));
      const ok = r.status === 200 && r.body.includes(`"uid":"attack-${i}"`) &&
        r.body.includes('"patchType":"JSONPatch"');
      return ok ? performance.now() - started : -1;
    } finally {
      c.close();
    }
  } catch {
    return -1;
  }
}

for (let i = 0; i < 200; i++) await admission(i); // warm-up: the JIT and the kept buffers
await sleep(2_000);
console.log(`webhook pid ${pid}, ${count} connections per kind, limits ${JSON.stringify(LIMITS)}`);
console.log(
  "kind | RSS before / peak / after (MiB) | closed by the server | closed after (s, max) | deadline (s) | admissions ok | slowest admission (ms)",
);
console.log("---|---|---|---|---|---|---");
let n = 1000;
for (const kind of kinds) {
  const before = rssMiB(pid);
  let peak = before;
  const sampler = setInterval(() => peak = Math.max(peak, rssMiB(pid)), 100);
  const hostileKind: HostileKind = kind === "flood" ? "idle" : kind as HostileKind;
  const total = kind === "flood" ? Math.round(count * 1.5) : count;
  const opened = performance.now();
  const hostile = await openMany(hostileKind, total, {
    port,
    caCert: w.caCert,
    dripEveryMs: 2_000,
    bodyLength: 4 * 1024 * 1024 - 1,
  });
  const latencies: number[] = [];
  const limit = opened + DEADLINE_MS[kind]! + 15_000;
  let closed = 0;
  const closedAt: number[] = [];
  for (const h of hostile) {
    h.closed.then((ms) => {
      closed++;
      closedAt.push(ms);
    });
  }
  while (closed < hostile.length && performance.now() < limit) {
    latencies.push(await admission(n++));
    await sleep(250);
  }
  clearInterval(sampler);
  for (const h of hostile) h.stop();
  await sleep(3_000);
  const after = rssMiB(pid);
  const ok = latencies.filter((l) => l >= 0);
  console.log(
    [
      `${kind} (${total})`,
      `${before} / ${peak} / ${after}`,
      `${closed} of ${total}`,
      (Math.max(0, ...closedAt) / 1000).toFixed(1),
      (DEADLINE_MS[kind]! / 1000).toFixed(0),
      `${ok.length} of ${latencies.length}`,
      Math.round(Math.max(0, ...ok)),
    ].join(" | "),
  );
}
await w.stop();
await Deno.remove(dir, { recursive: true });

/** The webhook process: the one whose command line has its --listen. */
function serverPid(port: number): number {
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`).split("\0");
      if (cmd.includes(`--listen=127.0.0.1:${port}`) && !cmd.includes("sh")) return Number(e.name);
    } catch {
      // gone meanwhile
    }
  }
  throw new Error(`no process listens on ${port}`);
}

function rssMiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Math.round(Number(status.match(/VmRSS:\s+(\d+)/)![1]) / 1024);
}

function sleep(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}
