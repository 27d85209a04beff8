/** The real single executable from `deno compile` (scripts/compile.sh, built once per run by
 * tests/run.ts; Deno 2.7.11, the newest runtime these machines can obtain, see
 * tools/deno/DENORT-NOTES.md), started the way the webhook starts the injector, against the
 * real OpenBao. Its CSI role is tested compiled by tests/csi_test.ts and csi_sanity_test.ts. */
import { assertEquals, assertStringIncludes } from "./harness/assert.ts";
import { testEnv } from "./harness/env.ts";
import { waitUntil } from "./harness/process.ts";
import { GUIDE } from "./harness/store_setup.ts";
import { startWebhook } from "./harness/webhook.ts";
import { csiClient, startCsi } from "./harness/csi.ts";
import { socketInodes } from "../lib/sys/tcp_nodelay.ts";
import { hasLaunchNofile, launcher, PRINT_STATE, stateOf } from "./harness/process_state.ts";

const env = testEnv();
const BIN = env.binary;
await Deno.mkdir(`${env.dir}/compiled`, { recursive: true });

Deno.test("the compiled executable runs its own program, not the Deno CLI", async () => {
  const out = await new Deno.Command(BIN, { args: ["version"], stdout: "piped" }).output();
  assertEquals(out.code, 0);
  assertStringIncludes(new TextDecoder().decode(out.stdout), "secrets-store ");
});

Deno.test("the compiled injector resolves the guide's myapp2 templates and execs in place", async () => {
  const tokenFile = `${env.dir}/compiled/token`;
  await Deno.writeTextFile(
    tokenFile,
    await env.kube.tokenFor(GUIDE.namespace, GUIDE.serviceAccount),
  );
  const child = new Deno.Command(BIN, {
    args: ["inject", "--", "/bin/sh", "-c", 'echo "$$"; /usr/bin/env -0'],
    clearEnv: true,
    env: {
      PATH: "/usr/bin:/bin",
      SECRETS_STORE_ADDR: env.bao.address,
      SECRETS_STORE_ROLE: GUIDE.role,
      SECRETS_STORE_CA_FILE: env.bao.caFile,
      SECRETS_STORE_TOKEN_FILE: tokenFile,
      DB_USER: "secrets-store:demo-kv/data/myapp-secret#DB_USER",
      DB_PASS: "secrets-store:demo-kv/data/myapp-secret#DB_PASS",
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = await child.output();
  assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
  const [pid, rest] = new TextDecoder().decode(out.stdout).split("\n", 2) as [string, string];
  assertEquals(Number(pid), child.pid);
  const got = Object.fromEntries(
    rest.split("\0").filter((l) => l).map((
      l,
    ) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
  delete got.PWD; // sh sets it for itself
  assertEquals(got, { PATH: "/usr/bin:/bin", DB_USER: "username", DB_PASS: "secret-password" });
});

Deno.test("the compiled injector's app inherits the signals, mask and limits it would get started directly", async () => {
  const direct = await stateOf(launcher(PRINT_STATE, { tell: false }), { PATH: "/usr/bin:/bin" });
  assertEquals(hasLaunchNofile(direct.limits), true, direct.limits);
  // No SECRETS_STORE_RLIMIT_NOFILE: this runtime leaves the limit as the launcher set it.
  const injected = await stateOf(launcher([BIN, "inject", "--", ...PRINT_STATE], { tell: false }), {
    PATH: "/usr/bin:/bin",
  });
  assertEquals(injected, direct);
  const pipe = await new Deno.Command(BIN, {
    args: ["inject", "--", "/bin/sh", "-c", "yes | head -n1"],
    clearEnv: true,
    env: { PATH: "/usr/bin:/bin" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  assertEquals([pipe.code, d.decode(pipe.stdout), d.decode(pipe.stderr)], [0, "y\n", ""]);
});

Deno.test("the compiled webhook serves admissions from two threads sharing the port", async () => {
  const w = await startWebhook({
    dir: `${env.dir}/compiled`,
    binary: BIN,
    settings: [
      "connectionConfiguration: Manual",
      `connection: {url: '${env.bao.address}'}`,
      "injector: {image: 'registry.local/secrets-store:test'}",
    ].join("\n"),
    kube: { url: env.kube.url, caFile: env.kube.caFile, token: env.kube.webhookToken },
    workers: 2,
  });
  try {
    // Two listening sockets on the port: the worker module was found (the include in
    // compile.sh works) and this runtime shares a port (SO_REUSEPORT).
    const port = Number(new URL(w.url).port);
    await waitUntil(
      "two listeners",
      () => Promise.resolve(socketInodes(port).size === 2),
      10_000,
      w.logFile,
    );
    const review = (uid: string) =>
      JSON.stringify({
        apiVersion: "admission.k8s.io/v1",
        kind: "AdmissionReview",
        request: {
          uid,
          kind: { group: "", version: "v1", kind: "Pod" },
          operation: "CREATE",
          namespace: GUIDE.namespace,
          object: {
            metadata: { name: "p", annotations: { "secrets-store.deckhouse.io/role": GUIDE.role } },
            spec: { containers: [{ name: "app", image: "alpine:3.20", command: ["printenv"] }] },
          },
        },
      });
    for (let i = 0; i < 8; i++) {
      const client = Deno.createHttpClient({ caCerts: [w.caCert] });
      const r = await fetch(`${w.url}/mutate`, { method: "POST", body: review(`u${i}`), client });
      const answer = await r.json();
      client.close();
      assertEquals(answer.response.uid, `u${i}`);
      assertEquals(answer.response.patchType, "JSONPatch");
    }
    const client = Deno.createHttpClient({ caCerts: [w.caCert] });
    const metrics = await (await fetch(`${w.url}/metrics`, { client })).text();
    client.close();
    assertStringIncludes(metrics, 'secrets_store_webhook_admissions_total{outcome="mutated"} 8');
  } finally {
    await w.stop();
  }
});

Deno.test("the compiled CSI driver serves its socket and can hand its heap back (gc exposed at compile time)", async () => {
  const dir = `${env.dir}/compiled-csi`;
  const driver = await startCsi({
    dir,
    binary: BIN,
    kubeletDir: dir,
    kube: { url: env.kube.url, caFile: env.kube.caFile, token: env.kube.csiToken },
    settings: `connectionConfiguration: Manual\nconnection: {url: '${env.bao.address}'}\n`,
  });
  const client = csiClient(driver.socket);
  try {
    const info = await client.call<{ name: string }>("Identity", "GetPluginInfo", {});
    assertEquals(info.name, "secrets-store.csi.deckhouse.io");
    const log = await Deno.readTextFile(driver.logFile);
    assertStringIncludes(log, "deno 2.7.11");
    assertStringIncludes(log, "gc=on");
  } finally {
    client.close();
    await driver.stop();
  }
});
