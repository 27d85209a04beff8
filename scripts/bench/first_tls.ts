/** Benchmark: what the first TLS connection of a compiled process costs, and where it goes
 * (docs/benchmarks.md, "Where the first TLS handshake's time goes"). A small probe program is
 * compiled with the executable's own runtime (the Deno 2.7.11 toolchain and runtime that
 * scripts/compile.sh sets up) and run in fresh processes, one after the other, against a local
 * OpenBao (its -dev-tls certificate, ECDSA P-256):
 *   - `fetch`: the first https fetch with the store's CA in a cold process, then a second one
 *     on the same connection;
 *   - `warm`: the TLS warm-up (the call lib/http/tls_warmup.ts makes) awaited until it
 *     settles, then the first fetch, which then pays the handshake and the request only;
 *   - `tls`: Deno.connectTls's handshake against Deno.startTls's over a socket with
 *     TCP_NODELAY, each on a second connection of the process (the one-time set-up is paid by
 *     a first connection before).
 * Prints the median and range of each figure.
 *
 * Run by hand, not in CI: `deno task compile && deno run -A scripts/bench/first_tls.ts [runs]`
 * (needs scripts/peers/install.sh). */
import { ROOT } from "../../tests/harness/process.ts";
import { startOpenBao } from "../../tests/harness/openbao.ts";

const runs = Number(Deno.args[0] ?? 15);
const toolchain = `${ROOT}/tools/deno-compile/node_modules/.bin/deno`;
const runtime = `${ROOT}/.peers/denort-2.7.11`;

// The probe is plain JavaScript in a folder of its own, so it cannot import the product's
// modules: its warm-up is the call lib/http/tls_warmup.ts makes.
const PROBE = `const warmTlsRandom = () =>
  crypto.subtle.generateKey({ name: "AES-GCM", length: 128 }, false, ["encrypt"]).then(() => {});
const [mode, address, caFile] = Deno.args;
const ca = Deno.readTextFileSync(caFile);
const out = {};
const lap = (() => { let t = performance.now(); return (name) => { const now = performance.now(); out[name] = now - t; t = now; }; })();
const get = async (client) => { const r = await fetch(address + "/v1/sys/health", { client }); await r.text(); };
if (mode === "tls") {
  const url = new URL(address);
  const to = { hostname: url.hostname, port: Number(url.port) };
  const first = await Deno.connectTls({ ...to, caCerts: [ca] });
  await first.handshake();
  first.close();
  lap("first connection");
  const plain = await Deno.connectTls({ ...to, caCerts: [ca] });
  await plain.handshake();
  lap("Deno.connectTls handshake");
  plain.close();
  const tcp = await Deno.connect(to);
  tcp.setNoDelay(true);
  const nodelay = await Deno.startTls(tcp, { hostname: url.hostname, caCerts: [ca] });
  await nodelay.handshake();
  lap("Deno.startTls handshake, TCP_NODELAY");
  nodelay.close();
} else {
  if (mode === "warm") { lap("start"); await warmTlsRandom(); lap("warm-up settled"); }
  const client = Deno.createHttpClient({ caCerts: [ca] });
  lap("client");
  await get(client);
  lap(mode === "warm" ? "first fetch after the warm-up" : "first fetch, cold");
  await get(client);
  lap("second fetch");
  client.close();
}
console.log(JSON.stringify(out));
`;

const dir = await Deno.makeTempDir({ prefix: "bench-first-tls-" });
const bao = await startOpenBao(dir);
try {
  await Deno.writeTextFile(`${dir}/probe.js`, PROBE);
  const built = await new Deno.Command(toolchain, {
    args: ["compile", "--no-check", "-A", "--quiet", "--output", `${dir}/probe`, `${dir}/probe.js`],
    env: { DENORT_BIN: runtime },
  }).output();
  if (!built.success) {
    throw new Error(
      `compiling the probe failed (run deno task compile first to set up the runtime): ${
        new TextDecoder().decode(built.stderr)
      }`,
    );
  }
  const figures = new Map<string, number[]>();
  for (let i = 0; i <= runs; i++) {
    for (const mode of ["fetch", "warm", "tls"]) {
      const run = await new Deno.Command(`${dir}/probe`, {
        args: [mode, bao.address, bao.caFile],
        env: { TMPDIR: dir },
      }).output();
      if (!run.success) throw new Error(`probe ${mode}: ${new TextDecoder().decode(run.stderr)}`);
      if (i === 0) continue; // warm-up round: page cache, the runtime's code cache
      const got = JSON.parse(new TextDecoder().decode(run.stdout)) as Record<string, number>;
      for (const [name, ms] of Object.entries(got)) {
        if (name === "start" || name === "client") continue;
        figures.set(name, [...(figures.get(name) ?? []), ms]);
      }
    }
  }
  console.log(`${runs} fresh processes of each kind, one after the other; runtime ${runtime}`);
  for (const [name, xs] of figures) {
    const s = [...xs].sort((a, b) => a - b);
    const median = s.length % 2
      ? s[(s.length - 1) / 2]!
      : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
    console.log(
      `${name}: median ${median.toFixed(1)} ms (${s[0]!.toFixed(1)}-${s.at(-1)!.toFixed(1)})`,
    );
  }
} finally {
  await bao.stop();
  await Deno.remove(dir, { recursive: true });
}
