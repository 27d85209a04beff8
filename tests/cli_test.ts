/** The command line as a user meets it: help, version, usage errors and exit codes. */
import { assertEquals, assertStringIncludes } from "./harness/assert.ts";
import { ROOT } from "./harness/process.ts";
import { VERSION } from "../lib/version.ts";
import { testEnv } from "./harness/env.ts";

async function cli(...args: string[]) {
  return await cliIn({}, ...args);
}

/** The CLI run in `cwd` with `env` added; killed after 60 s, so a role that started serving
 * by mistake fails the test instead of hanging it. */
async function cliIn(o: { cwd?: string; env?: Record<string, string> }, ...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", `${ROOT}/main.ts`, ...args],
    stdout: "piped",
    stderr: "piped",
    ...(o.cwd ? { cwd: o.cwd } : {}),
    ...(o.env ? { env: o.env } : {}),
    signal: AbortSignal.timeout(60_000),
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

/** `csi serve` with its socket, state and kubelet folders under `dir`, then `extra`. */
function csiServe(dir: string, ...extra: string[]): string[] {
  return [
    "csi",
    "serve",
    `--endpoint=unix://${dir}/csi.sock`,
    "--node-id=node-1",
    `--state-dir=${dir}/state`,
    `--kubelet-dir=${dir}`,
    ...extra,
  ];
}

Deno.test("--help lists every role and exits 0", async () => {
  const r = await cli("--help");
  assertEquals(r.code, 0);
  for (const role of ["webhook", "csi", "inject", "copy-self", "check-install", "version"]) {
    assertStringIncludes(r.stdout, role);
  }
});

Deno.test("each subcommand has its own --help", async () => {
  for (
    const args of [
      ["webhook", "serve"],
      ["csi", "serve"],
      ["inject"],
      ["copy-self"],
      ["check-install"],
      ["version"],
    ]
  ) {
    const r = await cli(...args, "--help");
    assertEquals(r.code, 0, `${args.join(" ")} --help: ${r.stderr}`);
    assertStringIncludes(r.stdout, `Usage: secrets-store ${args.join(" ")}`);
  }
});

Deno.test("version prints the product version", async () => {
  const r = await cli("version");
  assertEquals(r.code, 0);
  assertStringIncludes(r.stdout, `secrets-store ${VERSION}`);
});

Deno.test("an unknown subcommand exits 2 with a one-line reason", async () => {
  const r = await cli("bogus");
  assertEquals(r.code, 2);
  assertStringIncludes(r.stderr, "unknown command 'bogus'");
});

Deno.test("no subcommand, or a group without its subcommand, exits 2", async () => {
  assertEquals((await cli()).code, 2);
  const r = await cli("webhook");
  assertEquals(r.code, 2);
  assertStringIncludes(r.stderr, "a subcommand is required");
});

Deno.test("inject without a command exits 2 and says what is missing", async () => {
  const r = await cli("inject");
  assertEquals(r.code, 2);
  assertStringIncludes(r.stderr, "missing required argument 'command'");
});

Deno.test("webhook serve with a bad settings file stops at start-up, naming the setting", async () => {
  const file = await Deno.makeTempFile({ suffix: ".yaml" });
  try {
    await Deno.writeTextFile(file, "connectionConfiguration: Manual\ninjector: {image: x}\n");
    const r = await cli(
      "webhook",
      "serve",
      "--config",
      file,
      "--kube-server",
      "https://127.0.0.1:6443",
    );
    assertEquals(r.code, 1);
    assertStringIncludes(r.stderr, `Invalid settings in ${file}: connection.url: is required`);
    const missing = await cli("webhook", "serve", "--config", `${file}.nope`);
    assertEquals(missing.code, 1);
    assertStringIncludes(missing.stderr, "Cannot read settings file");
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("csi serve --help is complete: no sentence cut off, the endpoint forms and --kubeconfig", async () => {
  const r = await cli("csi", "serve", "--help");
  const help = r.stdout.replace(/\s+/g, " ");
  assertStringIncludes(help, "a node-driver-registrar sidecar must register the driver");
  assertStringIncludes(help, "unix:///absolute/path or an absolute path (no tcp://)");
  assertStringIncludes(help, "--kubeconfig <file>");
  const w = await cli("webhook", "serve", "--help");
  assertStringIncludes(w.stdout, "--kubeconfig <file>");
});

Deno.test("csi serve --endpoint=tcp://... is refused naming the flag, before anything is created", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await cliIn(
      { cwd: dir },
      "csi",
      "serve",
      "--endpoint=tcp://127.0.0.1:10000",
      "--node-id=node-1",
      `--state-dir=${dir}/state`,
    );
    assertEquals(r.code, 1, r.stderr);
    assertStringIncludes(
      r.stderr,
      'Invalid --endpoint "tcp://127.0.0.1:10000": only unix sockets are served; write unix:///path/to/csi.sock or an absolute path',
    );
    // The folder named "tcp:" it used to create, and the state folder, are not there.
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), []);
    const rel = await cliIn(
      { cwd: dir },
      "csi",
      "serve",
      "--endpoint=unix://csi.sock",
      "--node-id=n",
    );
    assertEquals(rel.code, 1);
    assertStringIncludes(
      rel.stderr,
      'Invalid --endpoint "unix://csi.sock": expected an absolute path',
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("csi serve with a bad --rotation-interval stops before it serves: no socket, no serving line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const cases: Array<[string, string]> = [
      ["2 minutes", "Cannot parse duration"],
      ["1000h", "at most 596h"],
    ];
    for (const [value, why] of cases) {
      const r = await cliIn(
        {},
        ...csiServe(dir, `--rotation-interval=${value}`),
      );
      assertEquals(r.code, 1, r.stderr);
      assertStringIncludes(r.stderr, `Invalid --rotation-interval`);
      assertStringIncludes(r.stderr, why);
      assertEquals(r.stderr.includes("csi driver serving"), false);
      assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), []);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("webhook serve checks its flags before it reads its settings file", async () => {
  const cases: Array<[string, string]> = [
    ["--listen=8443", 'Invalid --listen "8443": expected host:port, e.g. 0.0.0.0:8443'],
    ["--listen=0.0.0.0:99999", 'Invalid --listen "0.0.0.0:99999": the port is over 65535'],
    ["--workers=0", 'Invalid --workers "0": expected a whole number from 1 to 64'],
    ["--tls-reload-every=never", "Invalid --tls-reload-every: Cannot parse duration"],
  ];
  for (const [flag, want] of cases) {
    const r = await cli("webhook", "serve", "--config=/nonexistent/webhook.yaml", flag);
    assertEquals(r.code, 1, r.stderr);
    assertStringIncludes(r.stderr, want);
    assertEquals(r.stderr.includes("Cannot read settings file"), false, r.stderr);
  }
});

/** A kubeconfig for the test API server with `user` as its user entry. */
function kubeconfig(user: Record<string, unknown>): string {
  const env = testEnv();
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    "current-context": "test",
    contexts: [{ name: "test", context: { cluster: "test", user: "me" } }],
    clusters: [{
      name: "test",
      cluster: { server: env.kube.url, "certificate-authority-data": btoa(env.kube.caCert) },
    }],
    users: [{ name: "me", user }],
  });
}

Deno.test("--kubeconfig and KUBECONFIG reach the real API server with the current context's server, CA and token", async () => {
  const env = testEnv();
  const dir = await Deno.makeTempDir();
  try {
    const good = `${dir}/good`;
    const bad = `${dir}/bad`;
    await Deno.writeTextFile(good, kubeconfig({ token: env.kube.adminToken }));
    await Deno.writeTextFile(bad, kubeconfig({ token: "not-a-token" }));
    // The driver starts and serves whatever the store CA's state; its first look for Secret
    // d8-stronghold/stronghold-tls (the default DiscoverLocalStronghold) shows in its log how
    // the API server answered, and so who was asked and as whom. It is stopped once that line
    // is seen, or after 30 s.
    const serve = async (o: { env?: Record<string, string> }, ...extra: string[]) => {
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-all",
          `${ROOT}/main.ts`,
          ...csiServe(dir, ...extra),
        ],
        stdout: "null",
        stderr: "piped",
        ...(o.env ? { env: o.env } : {}),
      }).spawn();
      const deadline = setTimeout(() => child.kill("SIGKILL"), 30_000);
      let stderr = "";
      const d = new TextDecoder();
      try {
        for await (const chunk of child.stderr) {
          stderr += d.decode(chunk, { stream: true });
          if (stderr.includes("the store's CA is not known")) break;
        }
      } finally {
        try {
          child.kill("SIGTERM");
        } catch { /* already gone */ }
        await child.status;
        clearTimeout(deadline);
      }
      return stderr;
    };
    const found = await serve({}, `--kubeconfig=${good}`);
    assertStringIncludes(found, "Secret d8-stronghold/stronghold-tls does not exist");
    const refused = await serve({ env: { KUBECONFIG: bad } });
    assertStringIncludes(refused, "(HTTP 401)");
    assertEquals(refused.includes("not-a-token"), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a kubeconfig with an exec plugin is refused by name, from --kubeconfig or KUBECONFIG, before serving", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/exec`;
    await Deno.writeTextFile(
      file,
      kubeconfig({
        exec: {
          apiVersion: "client.authentication.k8s.io/v1",
          command: "touch",
          args: [`${dir}/ran`],
        },
      }),
    );
    const settings = `${dir}/webhook.yaml`;
    await Deno.writeTextFile(
      settings,
      "connectionConfiguration: Manual\nconnection: {url: https://store.local}\ninjector: {image: x}\n",
    );
    const w = await cliIn({}, "webhook", "serve", `--config=${settings}`, `--kubeconfig=${file}`);
    assertEquals(w.code, 1, w.stderr);
    assertStringIncludes(w.stderr, "users[0].user.exec: runs a credential plugin");
    const r = await cliIn(
      {},
      ...csiServe(dir, `--kubeconfig=${file}`),
    );
    assertEquals(r.code, 1, r.stderr);
    assertStringIncludes(
      r.stderr,
      `kubeconfig ${file}: users[0].user.exec: runs a credential plugin, which is not supported`,
    );
    const viaEnv = await cliIn(
      { env: { KUBECONFIG: file } },
      ...csiServe(dir),
    );
    assertStringIncludes(viaEnv.stderr, "users[0].user.exec: runs a credential plugin");
    assertEquals(
      (await Deno.stat(`${dir}/ran`).catch(() => undefined)) === undefined,
      true,
      "the plugin ran",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
