/** `secrets-store inject` as the webhook starts it: settings in SECRETS_STORE_* variables, a
 * real ServiceAccount token from the test kube-apiserver, the real OpenBao, and execve. */
import {
  assert,
  assertArrayIncludes,
  assertEquals,
  assertStringIncludes,
} from "./harness/assert.ts";
import { testEnv } from "./harness/env.ts";
import { freePort, ROOT, waitUntil } from "./harness/process.ts";
import { mapBounded } from "../lib/sys/bounded.ts";
import { proxyInFront } from "./harness/path_proxy.ts";
import { hasLaunchNofile, launcher, PRINT_STATE, stateOf } from "./harness/process_state.ts";
import { enableKubeAuth, GUIDE, liveTokens } from "./harness/store_setup.ts";
import { noDelayOf } from "./harness/nodelay.ts";
import { parseStorePath } from "../lib/config/store_path.ts";
import { silentLogger } from "../lib/log/logger.ts";
import { readSettings } from "../lib/inject/settings.ts";
import { storeSource } from "../lib/inject/store_source.ts";

const env = testEnv();
const tokenFile = `${env.dir}/inject-sa-token`;
const PATH = "/usr/local/bin:/usr/bin:/bin";

/** 200 KiB, over Linux's 128 KiB limit for one variable; the text is looked for in logs. */
const BIG_VALUE = "big-secret-".repeat(Math.ceil(204_800 / 11)).slice(0, 204_800);
/** 24 keys of 100 KiB: each fits, together over the 2 MiB an 8 MiB stack allows. */
const MANY_VALUE = "many-secret-".repeat(Math.ceil(102_400 / 12)).slice(0, 102_400);

let ready: Promise<void> | undefined;
/** Versions 2-5 of the guide's secret (v4 differs, the latest equals the guide's values), a
 * KV v1 mount, and a wider role for the failure cases. */
function setUp(): Promise<void> {
  return ready ??= (async () => {
    for (const pass of ["password-v2", "password-v3", "password-v4"]) {
      await env.bao.api("PUT", GUIDE.secretPath, { data: { ...GUIDE.data, DB_PASS: pass } });
    }
    await env.bao.api("PUT", GUIDE.secretPath, { data: GUIDE.data });
    await env.bao.api("POST", "sys/mounts/inject-kv1", { type: "kv", options: { version: "1" } });
    await env.bao.api("PUT", "inject-kv1/legacy", { API_KEY: "kv1-api-key" });
    await env.bao.api("PUT", "demo-kv/data/precedence", { data: { MY_SECRET: "from-template" } });
    await env.bao.api("PUT", "demo-kv/data/precedence-import", {
      data: { MY_SECRET: "from-env-from-path" },
    });
    await env.bao.api("PUT", "demo-kv/data/big", { data: { BLOB: BIG_VALUE } });
    await env.bao.api("PUT", "demo-kv/data/many", {
      data: Object.fromEntries(
        Array.from({ length: 24 }, (_, i) => [`K${String(i).padStart(2, "0")}`, MANY_VALUE]),
      ),
    });
    await env.bao.api("PUT", "sys/policies/acl/inject-test", {
      policy:
        'path "demo-kv/data/*" { capabilities = ["read"] }\npath "inject-kv1/*" { capabilities = ["read"] }\n',
    });
    await env.bao.api("PUT", "auth/kubernetes_local/role/inject-test-role", {
      bound_service_account_names: GUIDE.serviceAccount,
      bound_service_account_namespaces: GUIDE.namespace,
      policies: "inject-test",
      ttl: "10m",
    });
    await Deno.writeTextFile(
      tokenFile,
      await env.kube.tokenFor(GUIDE.namespace, GUIDE.serviceAccount),
    );
  })();
}

/** The variables the webhook would set for the guide's Pod. */
function settings(extra: Record<string, string> = {}): Record<string, string> {
  return {
    SECRETS_STORE_ADDR: env.bao.address,
    SECRETS_STORE_ROLE: GUIDE.role,
    SECRETS_STORE_AUTH_PATH: "kubernetes_local",
    SECRETS_STORE_CA_FILE: env.bao.caFile,
    SECRETS_STORE_TOKEN_FILE: tokenFile,
    ...extra,
  };
}

interface Run {
  code: number;
  pid: number;
  stdout: string;
  stderr: string;
}

/** The injector under the Deno CLI, as every test here starts it. */
const DENO_RUN_INJECT = [
  Deno.execPath(),
  ...["run", "--allow-all", "--quiet", `${ROOT}/main.ts`, "inject", "--"],
];

/** The injector as mutate-probes wraps an exec probe. */
const DENO_RUN_PROBE = [...DENO_RUN_INJECT.slice(0, -1), "--probe", "--"];
/** The compiled executable as it ships, for the tests that count a hundred runs (it starts
 * several times faster than `deno run`). */
const COMPILED_INJECT = [env.binary, "inject", "--"];
const COMPILED_PROBE = [env.binary, "inject", "--probe", "--"];
/** Runs at once in those tests: enough to keep both cores busy, few enough for a small CI. */
const CONCURRENT_RUNS = 6;

/** Runs the injector with exactly `vars` as its environment (plus PATH), through `launch`
 * (a command that execs its arguments) if given. */
async function inject(
  vars: Record<string, string>,
  command: string[],
  launch: string[] = [],
  injector: string[] = DENO_RUN_INJECT,
): Promise<Run> {
  await setUp();
  const argv = [...launch, ...injector, ...command];
  const child = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    clearEnv: true,
    env: { PATH, ...vars },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = await child.output();
  const d = new TextDecoder();
  return {
    code: out.code,
    pid: child.pid,
    stdout: d.decode(out.stdout),
    stderr: d.decode(out.stderr),
  };
}

/** The app's environment, printed NUL-separated by env -0. */
function parseEnv0(stdout: string): Record<string, string> {
  return Object.fromEntries(
    stdout.split("\0").filter((l) => l).map((
      l,
    ) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
}

Deno.test("myapp2: explicit templates become the values; the app gets exactly its own environment", async () => {
  const r = await inject({
    ...settings(),
    DB_USER: "secrets-store:demo-kv/data/myapp-secret#DB_USER",
    DB_PASS: "secrets-store:demo-kv/data/myapp-secret#DB_PASS",
    PLAIN: "left as it is",
  }, ["/usr/bin/env", "-0"]);
  assertEquals(r.code, 0, r.stderr);
  assertEquals(parseEnv0(r.stdout), {
    PATH,
    DB_USER: "username",
    DB_PASS: "secret-password",
    PLAIN: "left as it is",
  });
});

Deno.test("myapp1: env-from-path imports every key of both paths, the later path winning", async () => {
  const r = await inject(
    settings({
      SECRETS_STORE_ENV_FROM_PATH: "demo-kv/data/common-secret,demo-kv/data/myapp-secret",
    }),
    ["/usr/bin/env", "-0"],
  );
  assertEquals(r.code, 0, r.stderr);
  assertEquals(parseEnv0(r.stdout), {
    PATH,
    DB_USER: "username", // myapp-secret comes later and wins over common-secret's DB_USER
    DB_PASS: "secret-password",
    LOG_FORMAT: "json",
    REGION: "eu-1",
  });
});

Deno.test("a #4 template reads version 4 of a KV v2 secret", async () => {
  const r = await inject({
    ...settings(),
    OLD: "secrets-store:demo-kv/data/myapp-secret#DB_PASS#4",
    NOW: "secrets-store:demo-kv/data/myapp-secret#DB_PASS",
  }, ["/usr/bin/env", "-0"]);
  assertEquals(r.code, 0, r.stderr);
  const got = parseEnv0(r.stdout);
  assertEquals([got.OLD, got.NOW], ["password-v4", "secret-password"]);
});

Deno.test("a template that arrives through envFrom (any variable name) is resolved too", async () => {
  // envFrom of a ConfigMap or Secret puts its keys into the process environment as plain variables.
  const r = await inject({
    ...settings(),
    DATABASE_PASSWORD: "secrets-store:demo-kv/data/myapp-secret#DB_PASS",
  }, [
    "/usr/bin/env",
    "-0",
  ]);
  assertEquals(r.code, 0, r.stderr);
  assertEquals(parseEnv0(r.stdout).DATABASE_PASSWORD, "secret-password");
});

Deno.test("key templates and inline references render from the store, also through envFrom, one read per path", async () => {
  await setUp();
  await env.bao.api("PUT", "demo-kv/data/tmpl-db", {
    data: { username: "app", password: "p@ss word/1", port: 5432 },
  });
  const mark = (await audited()).length;
  const r = await inject({
    ...settings({ SECRETS_STORE_ROLE: "inject-test-role" }),
    // The two forms, as a Pod's env writes them.
    KEY_URL:
      "secrets-store:demo-kv/data/tmpl-db#postgresql://${.username}:${.password | urlquery}@db:${.port}/app",
    INLINE_URL:
      "postgres://${secrets-store:demo-kv/data/tmpl-db#username}:${secrets-store:demo-kv/data/tmpl-db#password}@db:5432/app",
    // Any name, as envFrom of a ConfigMap or Secret brings its keys in; other ${...} stays.
    "app.config": "user=${secrets-store:demo-kv/data/myapp-secret#DB_USER} home=${HOME}",
    JSON_ALL: "secrets-store:demo-kv/data/tmpl-db#${. | toJson}",
  }, ["/usr/bin/env", "-0"]);
  assertEquals(r.code, 0, r.stderr);
  const got = parseEnv0(r.stdout);
  assertEquals(got.KEY_URL, "postgresql://app:p%40ss+word%2F1@db:5432/app");
  assertEquals(got.INLINE_URL, "postgres://app:p@ss word/1@db:5432/app");
  assertEquals(got["app.config"], "user=username home=${HOME}");
  assertEquals(JSON.parse(got.JSON_ALL!), { username: "app", password: "p@ss word/1", port: 5432 });
  const reads = (await audited()).slice(mark).filter((p) => p.startsWith("read demo-kv/data/"));
  assertEquals(reads.sort(), ["read demo-kv/data/myapp-secret", "read demo-kv/data/tmpl-db"]);
});

Deno.test("a failing template stops the app naming the variable, reference and position, never a value", async () => {
  await setUp();
  await env.bao.api("PUT", "demo-kv/data/tmpl-fail", { data: { password: "tmpl-secret-value" } });
  const r = await inject({
    ...settings({ SECRETS_STORE_ROLE: "inject-test-role" }),
    URL: "secrets-store:demo-kv/data/tmpl-fail#x://${.user}:${.password}@db",
    DEC: "a${secrets-store:demo-kv/data/tmpl-fail#${.password | b64dec}}",
    BAD: "secrets-store:demo-kv/data/tmpl-fail#${.password | readFile}",
  }, ["/bin/true"]);
  assertEquals(r.code, 1);
  assertStringIncludes(
    r.stderr,
    'URL <- demo-kv/data/tmpl-fail#x://${.user}:${.password}@db: key template at 1:45: no field "user"',
  );
  assertStringIncludes(
    r.stderr,
    "DEC <- demo-kv/data/tmpl-fail#${.password | b64dec}: key template at 1:55: b64dec: the value is not valid base64",
  );
  assertStringIncludes(r.stderr, 'Variable BAD: at 1:52: unknown function "readFile"');
  assert(!r.stderr.includes("tmpl-secret-value"), r.stderr);
});

Deno.test("inject --store-file --dry-run shows each template with the store's parts masked", async () => {
  const file = `${env.dir}/inject-dry-run-store.yaml`;
  await Deno.writeTextFile(
    file,
    "db/data/app:\n  username: app\n  password: dry-run-secret\n",
  );
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      ...["run", "--allow-all", "--quiet", `${ROOT}/main.ts`, "inject"],
      ...["--store-file", file, "--dry-run", "--", "/bin/true"],
    ],
    clearEnv: true,
    env: {
      PATH,
      URL: "secrets-store:db/data/app#postgresql://${.username}:${.password}@db",
      INLINE: "u=${secrets-store:db/data/app#username};p=${secrets-store:db/data/app#password}",
      PASS: "secrets-store:db/data/app#password",
    },
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
  assertStringIncludes(stdout, "= postgresql://********:********@db");
  assertStringIncludes(
    stdout,
    "db/data/app#password             = u=********;p=********",
  );
  assertStringIncludes(stdout, "PASS      db/data/app#password");
  assertStringIncludes(stdout, "1 distinct read(s)");
  assert(!stdout.includes("dry-run-secret") && !stdout.includes("=app"), stdout);
});

Deno.test("a KV v1 path resolves from its data", async () => {
  const r = await inject({
    ...settings({ SECRETS_STORE_ROLE: "inject-test-role" }),
    API_KEY: "secrets-store:inject-kv1/legacy#API_KEY",
  }, ["/usr/bin/env", "-0"]);
  assertEquals(r.code, 0, r.stderr);
  assertEquals(parseEnv0(r.stdout).API_KEY, "kv1-api-key");
});

Deno.test("the guide's MY_SECRET example: env-from-path wins over the explicit template", async () => {
  const r = await inject({
    ...settings({
      SECRETS_STORE_ROLE: "inject-test-role",
      SECRETS_STORE_ENV_FROM_PATH: "demo-kv/data/precedence-import",
    }),
    MY_SECRET: "secrets-store:demo-kv/data/precedence#MY_SECRET",
  }, ["/usr/bin/env", "-0"]);
  assertEquals(r.code, 0, r.stderr);
  assertEquals(parseEnv0(r.stdout).MY_SECRET, "from-env-from-path");
});

Deno.test("execve: same PID, no child, the app's exit status is its own", async () => {
  const r = await inject({ ...settings(), P: "secrets-store:demo-kv/data/myapp-secret#DB_PASS" }, [
    "/bin/sh",
    "-c",
    'echo "$$"; exit 7',
  ]);
  assertEquals(r.code, 7, r.stderr);
  assertEquals(Number(r.stdout.trim()), r.pid);
});

Deno.test("the app inherits the signal dispositions, mask and limits it would get started directly", async () => {
  await setUp();
  const direct = await stateOf(launcher(PRINT_STATE, { tell: false }), { PATH });
  // The launcher's limit is really in place, so a runtime that raises it would show.
  assert(hasLaunchNofile(direct.limits), direct.limits);
  const injected = await stateOf(
    launcher([...DENO_RUN_INJECT, ...PRINT_STATE], { tell: true }),
    { PATH, ...settings(), P: "secrets-store:demo-kv/data/myapp-secret#DB_PASS" },
  );
  assertEquals(injected, direct);
});

Deno.test("under the Deno CLI without the launcher's limit the app gets the raised one, and the debug log says so", async () => {
  const r = await inject(settings({ SECRETS_STORE_LOG_LEVEL: "debug" }), [
    "/bin/sh",
    "-c",
    "ulimit -S -n; ulimit -H -n",
  ]);
  assertEquals(r.code, 0, r.stderr);
  const [soft, hard] = r.stdout.trim().split("\n");
  assertEquals(soft, hard);
  assertStringIncludes(r.stderr, "set SECRETS_STORE_RLIMIT_NOFILE=$(ulimit -S -n) in the launcher");
});

Deno.test("SIGPIPE is the app's default again: `yes | head -n1` ends quietly", async () => {
  const r = await inject(settings(), ["/bin/sh", "-c", "yes | head -n1"]);
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.stdout, "y\n");
  assert(!r.stderr.includes("Broken pipe"), r.stderr);
});

Deno.test("a 200 KiB value stops the app naming the variable and its size, or is dropped with ignore-missing-secrets", async () => {
  const vars = {
    ...settings({ SECRETS_STORE_ROLE: "inject-test-role" }),
    BLOB: "secrets-store:demo-kv/data/big#BLOB",
    DB_PASS: "secrets-store:demo-kv/data/myapp-secret#DB_PASS",
  };
  const failed = await inject(vars, ["/usr/bin/env", "-0"]);
  assertEquals(failed.code, 1, failed.stderr);
  assertStringIncludes(
    failed.stderr,
    "secrets-store: Cannot start the app: BLOB (204806 bytes, from demo-kv/data/big#BLOB) is over Linux's 131072-byte limit for one variable, NAME=value and its NUL (MAX_ARG_STRLEN)",
  );
  assertEquals(failed.stdout, "");

  const ignored = await inject(
    { ...vars, SECRETS_STORE_IGNORE_MISSING_SECRETS: "true" },
    ["/usr/bin/env", "-0"],
  );
  assertEquals(ignored.code, 0, ignored.stderr);
  const got = parseEnv0(ignored.stdout);
  assertEquals([got.BLOB, got.DB_PASS], [undefined, "secret-password"]);
  assertStringIncludes(ignored.stderr, "secret variable too large to start the app with, dropped");
  assertStringIncludes(ignored.stderr, "variable=BLOB");
  assertStringIncludes(ignored.stderr, "bytes=204806");
  for (const r of [failed, ignored]) {
    assert(!r.stderr.includes("big-secret-"), "a value was logged");
  }
});

Deno.test("an environment over ARG_MAX stops the app naming the largest variables, or sheds secrets with ignore", async () => {
  // An 8 MiB stack: execve then takes 2 MiB of arguments and environment.
  const stack8m = ["/bin/sh", "-c", 'ulimit -S -s 8192 && exec "$@"', "launcher"];
  const vars = settings({
    SECRETS_STORE_ROLE: "inject-test-role",
    SECRETS_STORE_ENV_FROM_PATH: "demo-kv/data/many",
  });
  const failed = await inject(vars, ["/usr/bin/env", "-0"], stack8m);
  assertEquals(failed.code, 1, failed.stderr);
  assertStringIncludes(
    failed.stderr,
    "bytes execve accepts for arguments and environment (ARG_MAX: a quarter of the stack limit, at most 6 MiB); the largest variables: K",
  );
  assertStringIncludes(failed.stderr, "over the 2097152 bytes");
  assertStringIncludes(failed.stderr, " (102405 bytes, from demo-kv/data/many#K");

  const ignored = await inject(
    { ...vars, SECRETS_STORE_IGNORE_MISSING_SECRETS: "true" },
    ["/usr/bin/env", "-0"],
    stack8m,
  );
  assertEquals(ignored.code, 0, ignored.stderr);
  const kept = Object.keys(parseEnv0(ignored.stdout)).filter((k) => /^K\d\d$/.test(k));
  // 2 MiB holds 20 of the 24, with PATH, the arguments and the pointers.
  assertEquals(kept.length, 20);
  assertEquals(ignored.stderr.match(/too large to start the app with, dropped/g)?.length, 4);
  for (const r of [failed, ignored]) {
    assert(!r.stderr.includes("many-secret-"), "a value was logged");
  }
});

Deno.test("a template without data/ in a KV v2 path says which path to use, under the guide's own policy", async () => {
  const r = await inject({
    ...settings(),
    DB_PASS: "secrets-store:demo-kv/myapp-secret#DB_PASS",
  }, ["/usr/bin/env", "-0"]);
  assertEquals(r.code, 1, r.stderr);
  assertStringIncludes(
    r.stderr,
    `  DB_PASS <- demo-kv/myapp-secret#DB_PASS: bad request: Cannot read demo-kv/myapp-secret from ${env.bao.address}: bad request: demo-kv/ is a KV v2 mount, where secrets are read at demo-kv/data/<name>: use demo-kv/data/myapp-secret (see docs/troubleshooting.md#injector)\n`,
  );
});

Deno.test("every settings error names its SECRETS_STORE_* variable, and store failures the settings to check", async () => {
  await setUp();
  const notPem = `${env.dir}/inject-not-pem.crt`;
  await Deno.writeTextFile(notPem, "/etc/ssl/certs/ca.crt\n");
  const P = "secrets-store:demo-kv/data/myapp-secret#DB_PASS";
  const cases: Array<[Record<string, string>, string]> = [
    [
      { SECRETS_STORE_CLIENT_TIMEOUT: "0" },
      'SECRETS_STORE_CLIENT_TIMEOUT: Cannot parse duration "0": must be at least 1ms',
    ],
    [
      { SECRETS_STORE_ADDR: "stronghold:8200" },
      'SECRETS_STORE_ADDR: Invalid store address "stronghold:8200": it has no scheme: write https://host[:port][/prefix]',
    ],
    [
      { SECRETS_STORE_ADDR: "127.0.0.1:8200" },
      'SECRETS_STORE_ADDR: Invalid store address "127.0.0.1:8200": it has no scheme: write https://host[:port][/prefix]',
    ],
    [
      { SECRETS_STORE_CA_CERT: "not a certificate", SECRETS_STORE_CA_FILE: "" },
      "SECRETS_STORE_CA_CERT: it is not a PEM certificate (no -----BEGIN CERTIFICATE----- line)",
    ],
    [
      { SECRETS_STORE_CA_FILE: notPem },
      `Cannot use the store CA certificate ${notPem} (SECRETS_STORE_CA_FILE): it is not a PEM certificate`,
    ],
    [
      { SECRETS_STORE_TOKEN_FILE: `${env.dir}/no-such-token` },
      `Cannot read the ServiceAccount token ${env.dir}/no-such-token (SECRETS_STORE_TOKEN_FILE)`,
    ],
    [
      { SECRETS_STORE_ADDR: `https://127.0.0.1:${freePort()}` },
      "(check SECRETS_STORE_ADDR)",
    ],
    [
      { SECRETS_STORE_CA_FILE: env.kube.caFile }, // a valid CA, but not the store's
      "(check SECRETS_STORE_CA_FILE, SECRETS_STORE_CA_CERT and SECRETS_STORE_ADDR)",
    ],
    [
      { SECRETS_STORE_ROLE: "no-such-role" },
      "(check SECRETS_STORE_ROLE and SECRETS_STORE_AUTH_PATH)",
    ],
  ];
  for (const [vars, part] of cases) {
    const r = await inject({ ...settings(vars), P }, ["/usr/bin/env"]);
    assertEquals(r.code, 1, `${JSON.stringify(vars)}: ${r.stderr}`);
    assertStringIncludes(r.stderr, part, JSON.stringify(vars));
    assertEquals(r.stdout, "");
  }
});

Deno.test("the command is found on the app's PATH; a missing command exits 127 naming it", async () => {
  const ok = await inject(settings(), ["env"]);
  assertEquals(ok.code, 0, ok.stderr);
  const missing = await inject(settings(), ["no-such-program-xyz"]);
  assertEquals(missing.code, 127);
  assertStringIncludes(missing.stderr, '"no-such-program-xyz" not found in PATH=');
});

Deno.test("with nothing to resolve the store is not contacted at all", async () => {
  // An address nothing listens on (a port just found free): any login attempt would fail.
  const r = await inject(
    settings({
      SECRETS_STORE_ADDR: `https://127.0.0.1:${freePort()}`,
      SECRETS_STORE_LOG_LEVEL: "debug",
    }),
    [
      "/usr/bin/env",
      "-0",
    ],
  );
  assertEquals(r.code, 0, r.stderr);
  assertStringIncludes(r.stderr, "store not contacted");
});

const FAILING = {
  FORBIDDEN: "secrets-store:demo-kv/data/other-team#KEY", // outside the policy: 403
  NO_KEY: "secrets-store:demo-kv/data/myapp-secret#NOPE",
  GOOD: "secrets-store:demo-kv/data/myapp-secret#DB_PASS",
};

Deno.test("failures stop the app before it starts, naming each path, key and why", async () => {
  const r = await inject({ ...settings(), ...FAILING }, ["/bin/sh", "-c", "echo app started"]);
  assertEquals(r.code, 1);
  assert(!r.stdout.includes("app started"));
  assertStringIncludes(r.stderr, "FORBIDDEN <- demo-kv/data/other-team#KEY: permission denied");
  assertStringIncludes(r.stderr, 'NO_KEY <- demo-kv/data/myapp-secret#NOPE: key "NOPE" not found');
  assert(!r.stderr.includes("secret-password"));
});

Deno.test("ignore-missing-secrets starts the app without what failed, never with a template", async () => {
  const r = await inject(
    { ...settings({ SECRETS_STORE_IGNORE_MISSING_SECRETS: "true" }), ...FAILING },
    ["/usr/bin/env", "-0"],
  );
  assertEquals(r.code, 0, r.stderr);
  assertEquals(parseEnv0(r.stdout), { PATH, GOOD: "secret-password" });
  assertStringIncludes(r.stderr, "FORBIDDEN");
  assertStringIncludes(r.stderr, "NO_KEY");
});

Deno.test("a missing path and a missing env-from-path are failures, or dropped when ignored", async () => {
  const vars = {
    ...settings({
      SECRETS_STORE_ROLE: "inject-test-role",
      SECRETS_STORE_ENV_FROM_PATH: "demo-kv/data/gone",
    }),
    X: "secrets-store:demo-kv/data/missing#K",
  };
  const r = await inject(vars, ["/usr/bin/env", "-0"]);
  assertEquals(r.code, 1);
  assertStringIncludes(r.stderr, "X <- demo-kv/data/missing#K: not found");
  assertStringIncludes(r.stderr, "demo-kv/data/gone (env-from-path): not found");
  const ignored = await inject({ ...vars, SECRETS_STORE_IGNORE_MISSING_SECRETS: "true" }, [
    "/usr/bin/env",
    "-0",
  ]);
  assertEquals(ignored.code, 0, ignored.stderr);
  assertEquals(parseEnv0(ignored.stdout), { PATH });
});

Deno.test("an unreachable store fails, or starts the app without secrets when ignored", async () => {
  const vars = {
    ...settings({ SECRETS_STORE_ADDR: `https://127.0.0.1:${freePort()}` }),
    P: FAILING.GOOD,
  };
  const r = await inject(vars, ["/usr/bin/env", "-0"]);
  assertEquals(r.code, 1);
  assertStringIncludes(r.stderr, "P <- demo-kv/data/myapp-secret#DB_PASS: unreachable");
  const ignored = await inject({ ...vars, SECRETS_STORE_IGNORE_MISSING_SECRETS: "true" }, [
    "/usr/bin/env",
    "-0",
  ]);
  assertEquals(ignored.code, 0, ignored.stderr);
  assertEquals(parseEnv0(ignored.stdout), { PATH });
});

Deno.test("client-timeout bounds the whole retrieval", async () => {
  // Stand-in: a listener that accepts and never answers, since OpenBao cannot be told to hang.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const c of listener) held.push(c);
  })();
  try {
    const vars = {
      ...settings({
        SECRETS_STORE_ADDR: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
        SECRETS_STORE_ALLOW_INSECURE_HTTP: "true",
      }),
      SECRETS_STORE_CLIENT_TIMEOUT: "700ms",
      P: FAILING.GOOD,
    };
    const r = await inject(vars, ["/usr/bin/env", "-0"]);
    assertEquals(r.code, 1);
    assertStringIncludes(r.stderr, "P <- demo-kv/data/myapp-secret#DB_PASS: timeout");
    const ignored = await inject({ ...vars, SECRETS_STORE_IGNORE_MISSING_SECRETS: "true" }, [
      "/usr/bin/env",
      "-0",
    ]);
    assertEquals(ignored.code, 0, ignored.stderr);
  } finally {
    listener.close();
    held.forEach((c) => c.close());
    await accepting.catch(() => {});
  }
});

Deno.test("debug and JSON logs never carry a secret value or the token", async () => {
  const jwt = (await Deno.readTextFile(tokenFile)).trim();
  for (const json of ["false", "true"]) {
    const r = await inject({
      ...settings({
        SECRETS_STORE_LOG_LEVEL: "debug",
        SECRETS_STORE_JSON_LOG: json,
        SECRETS_STORE_ENV_FROM_PATH: "demo-kv/data/common-secret",
      }),
      P: FAILING.GOOD,
      U: "secrets-store:demo-kv/data/myapp-secret#DB_USER",
    }, ["/bin/true"]);
    assertEquals(r.code, 0, r.stderr);
    assertStringIncludes(r.stderr, "secrets resolved");
    for (const secret of ["secret-password", "username", "common-user", "eu-1", jwt]) {
      assert(!r.stderr.includes(secret), `log output holds a secret (json=${json})`);
    }
    if (json === "true") {
      for (const line of r.stderr.trim().split("\n")) JSON.parse(line);
    }
  }
});

Deno.test("one run (as a wrapped exec probe runs) costs one login, one engine lookup per mount and one read per distinct path", async () => {
  // Counted by the store itself, in its audit log.
  await setUp();
  const mark = (await audited()).length;
  await probeRole("probe-kube");
  await env.bao.api("PUT", "demo-kv/data/probe-a", { data: { A: "a", B: "b" } });
  await env.bao.api("PUT", "demo-kv/data/probe-b", { data: { C: "c" } });
  const r = await inject({
    ...settings({ SECRETS_STORE_AUTH_PATH: "probe-kube", SECRETS_STORE_ROLE: "probe" }),
    A: "secrets-store:demo-kv/data/probe-a#A",
    B: "secrets-store:demo-kv/data/probe-a#B",
    C: "secrets-store:demo-kv/data/probe-b#C",
  }, ["/bin/true"]);
  assertEquals(r.code, 0, r.stderr);
  const requests = (await audited()).slice(mark);
  assertEquals(requests.filter((p) => p.endsWith(" auth/probe-kube/login")).length, 1);
  assertEquals(requests.filter((p) => p.startsWith("read demo-kv/data/probe-")).sort(), [
    "read demo-kv/data/probe-a",
    "read demo-kv/data/probe-b",
  ]);
  // Both paths are on demo-kv: its engine is asked for once.
  assertEquals(requests.filter((p) => p.startsWith("read sys/internal/ui/mounts/")).length, 1);
  // And its token is given back before the app starts.
  assertEquals(requests.filter((p) => p.endsWith(" auth/token/revoke-self")).length, 1);
});

Deno.test("no token build-up: 100 runs leave no store token of theirs; with SECRETS_STORE_REVOKE_TOKEN=false each run's stays", async () => {
  await setUp();
  await enableKubeAuth(env.bao, env.kube, "revoke-kube");
  for (const role of ["revoke", "keep"]) {
    await env.bao.api("PUT", `auth/revoke-kube/role/${role}`, {
      bound_service_account_names: GUIDE.serviceAccount,
      bound_service_account_namespaces: GUIDE.namespace,
      policies: "inject-test",
      ttl: "10m",
    });
  }
  const mark = (await audited()).length;
  const run = async (role: string, extra: Record<string, string> = {}) => {
    const r = await inject(
      {
        ...settings({ SECRETS_STORE_AUTH_PATH: "revoke-kube", SECRETS_STORE_ROLE: role, ...extra }),
        DB_PASS: "secrets-store:demo-kv/data/myapp-secret#DB_PASS",
      },
      ["/usr/bin/printenv", "DB_PASS"],
      [],
      COMPILED_INJECT,
    );
    assertEquals([r.code, r.stdout], [0, "secret-password\n"], r.stderr);
    assert(!r.stderr.includes("not revoked"), r.stderr);
  };
  await mapBounded(Array.from({ length: 100 }), CONCURRENT_RUNS, () => run("revoke"));
  const requests = (await audited()).slice(mark);
  assertEquals(requests.filter((p) => p.endsWith(" auth/revoke-kube/login")).length, 100);
  assertEquals(requests.filter((p) => p.endsWith(" auth/token/revoke-self")).length, 100);
  assertEquals(await liveTokens(env.bao, "revoke-kube", "revoke"), 0);
  // The control: the same runs with revocation off leave a token each.
  await mapBounded(
    Array.from({ length: 3 }),
    CONCURRENT_RUNS,
    () => run("keep", { SECRETS_STORE_REVOKE_TOKEN: "false" }),
  );
  assertEquals(await liveTokens(env.bao, "revoke-kube", "keep"), 3);
});

Deno.test("a store that refuses the revoke costs a warning, and the app starts with its secrets", async () => {
  await setUp();
  // Without the default policy, the token may not revoke itself.
  await env.bao.api("PUT", "auth/kubernetes_local/role/no-default-policy", {
    bound_service_account_names: GUIDE.serviceAccount,
    bound_service_account_namespaces: GUIDE.namespace,
    policies: "inject-test",
    token_no_default_policy: true,
  });
  const r = await inject({
    ...settings({ SECRETS_STORE_ROLE: "no-default-policy" }),
    DB_PASS: "secrets-store:demo-kv/data/myapp-secret#DB_PASS",
  }, ["/usr/bin/printenv", "DB_PASS"]);
  assertEquals([r.code, r.stdout], [0, "secret-password\n"], r.stderr);
  assertStringIncludes(r.stderr, "the store token was not revoked; it expires at its TTL");
  assertStringIncludes(r.stderr, "auth/token/revoke-self");
});

Deno.test("a wrapped exec probe takes the app's values from PID 1 with no store request; else it asks the store", async () => {
  await setUp();
  await probeRole("pid1-kube");
  await env.bao.api("PUT", "demo-kv/data/pid1-a", { data: { A: "store-a", B: "store-b" } });
  await env.bao.api("PUT", "demo-kv/data/pid1-b", { data: { C: "store-c" } });
  // A file stands in for the container's /proc/1/environ (SECRETS_STORE_TEST_PROC_ROOT).
  const proc = `${env.dir}/pid1-proc`;
  await Deno.mkdir(`${proc}/1`, { recursive: true });
  const app = (vars: Record<string, string>) =>
    Deno.writeTextFile(
      `${proc}/1/environ`,
      Object.entries(vars).map(([k, v]) => `${k}=${v}\0`).join(""),
    );
  const templates = {
    A: "secrets-store:demo-kv/data/pid1-a#A",
    B: "secrets-store:demo-kv/data/pid1-a#B",
    C: "secrets-store:demo-kv/data/pid1-b#C",
  };
  const once = async (injector: string[], root: string) => {
    const r = await inject(
      {
        ...settings({
          SECRETS_STORE_AUTH_PATH: "pid1-kube",
          SECRETS_STORE_ROLE: "probe",
          SECRETS_STORE_TEST_PROC_ROOT: root,
          SECRETS_STORE_LOG_LEVEL: "debug",
        }),
        ...templates,
      },
      ["/usr/bin/printenv", "A", "B", "C"],
      [],
      injector,
    );
    assertEquals(r.code, 0, r.stderr);
    assert(!r.stderr.includes("app-"), "no value is logged");
    return r;
  };
  /** `runs` runs, a few at a time; the store's audit log is read once they have all ended. */
  const runs = async (runs: number, injector: string[], root = proc) => {
    const mark = (await audited()).length;
    const done = await mapBounded(
      Array.from({ length: runs }),
      CONCURRENT_RUNS,
      () => once(injector, root),
    );
    return {
      outs: [...new Set(done.map((r) => r.stdout))],
      stderr: done[0]!.stderr,
      requests: (await audited()).slice(mark),
    };
  };
  /** [logins, secret reads, engine lookups, revokes]; every other request fails the count. */
  const store = (requests: string[]) => {
    const kinds = [
      (p: string) => p.endsWith(" auth/pid1-kube/login"),
      (p: string) => p.startsWith("read demo-kv/data/pid1-"),
      (p: string) => p.startsWith("read sys/internal/ui/mounts/demo-kv/data/pid1-"),
      (p: string) => p.endsWith(" auth/token/revoke-self"),
    ];
    assertEquals(requests.filter((p) => !kinds.some((k) => k(p))), [], "no other request");
    return kinds.map((k) => requests.filter(k).length);
  };
  const perRun = [1, 2, 1, 1]; // one login, a read per path, one lookup of demo-kv, one revoke

  // The app, exec'd by the injector, holds the resolved values (here ones the store has not,
  // as after a rotation the app has not restarted for): the probe sees what the app sees.
  await app({ PATH, A: "app-a", B: "app-b", C: "app-c", HOME: "/" });
  const fast = await runs(100, COMPILED_PROBE);
  assertEquals(fast.outs, ["app-a\napp-b\napp-c\n"]);
  assertEquals(fast.requests, [], "not one store request in 100 probe runs");

  const fallback = async (why: string, root = proc, n = 1) => {
    const r = await runs(n, n > 1 ? COMPILED_PROBE : DENO_RUN_PROBE, root);
    assertEquals(r.outs, ["store-a\nstore-b\nstore-c\n"], why);
    assertEquals(store(r.requests), perRun.map((k) => k * n), why);
    return r.stderr;
  };
  const unreadable = `${env.dir}/no-such-proc`;
  assertStringIncludes(
    await fallback("unreadable", unreadable),
    "the environment of PID 1 is not readable",
  );
  await fallback("unreadable, 100 runs", unreadable, 100);
  // An injector that has not exec'd the app yet: it still holds its settings and templates.
  await app({ PATH, ...templates, SECRETS_STORE_ADDR: env.bao.address });
  assertStringIncludes(await fallback("supervisor"), "PID 1 is an injector");
  await app({ PATH, A: "app-a", B: "app-b", C: templates.C });
  assertStringIncludes(await fallback("a template"), "PID 1's variable C is a template");
  await app({ PATH, A: "app-a", B: "app-b" }); // e.g. C dropped by ignore-missing-secrets
  assertStringIncludes(await fallback("missing"), "PID 1 has no variable C");

  // A container start (no --probe) never takes PID 1's values.
  await app({ PATH, A: "app-a", B: "app-b", C: "app-c" });
  const start = await runs(1, DENO_RUN_INJECT);
  assertEquals(start.outs, ["store-a\nstore-b\nstore-c\n"]);
  assertEquals(store(start.requests), perRun);
});

Deno.test("in a real PID namespace a probe takes the app's values with no store request: from PID 1, and in a watch mode from the supervisor's child", async () => {
  await setUp();
  await probeRole("pidns-kube");
  const path = "demo-kv/data/pidns";
  await env.bao.api("PUT", path, { data: { A: "started-a", B: "started-b" } });
  const vars = {
    ...settings({
      SECRETS_STORE_AUTH_PATH: "pidns-kube",
      SECRETS_STORE_ROLE: "probe",
      SECRETS_STORE_LOG_LEVEL: "debug",
    }),
    A: `secrets-store:${path}#A`,
    B: `secrets-store:${path}#B`,
  };
  // `$PPID` is 0 for a process whose parent is outside its PID namespace, as nsenter is: the
  // probe's command was exec'd in place, not started by a supervisor of the probe's own.
  const check = ["/bin/sh", "-c", 'echo "$PPID $A $B"'];
  for (const mode of ["none", "watch-for-data", "watch-for-lease"]) {
    const modeVars = { ...vars, SECRETS_STORE_RESTART_ON_SECRET_CHANGE: mode };
    const container = await startContainer(modeVars, mode !== "none");
    try {
      // Rotated in the store after the start: the probe sees what the app holds.
      await env.bao.api("PUT", path, { data: { A: "rotated-a", B: "rotated-b" } });
      const mark = (await audited()).length;
      for (let i = 0; i < 5; i++) {
        const r = await inject(modeVars, check, container.enter, DENO_RUN_PROBE);
        assertEquals([r.code, r.stdout], [0, "0 started-a started-b\n"], `${mode}: ${r.stderr}`);
        assertStringIncludes(r.stderr, "the app's values are used, store not contacted");
        assert(!r.stderr.includes("started-"), "no value is logged");
      }
      assertEquals((await audited()).slice(mark), [], `${mode}: not one store request`);
    } finally {
      await container.stop();
      await env.bao.api("PUT", path, { data: { A: "started-a", B: "started-b" } });
    }
  }
});

Deno.test("a probe under a watch mode that falls back to the store execs its command: no supervisor, one login, one revoke", async () => {
  await setUp();
  await probeRole("probe-watch-kube");
  await env.bao.api("PUT", "demo-kv/data/probe-watch", { data: { A: "store-a" } });
  const mark = (await audited()).length;
  const r = await inject(
    {
      ...settings({
        SECRETS_STORE_AUTH_PATH: "probe-watch-kube",
        SECRETS_STORE_ROLE: "probe",
        SECRETS_STORE_RESTART_ON_SECRET_CHANGE: "watch-for-data",
        SECRETS_STORE_TEST_PROC_ROOT: `${env.dir}/no-such-proc`,
      }),
      A: "secrets-store:demo-kv/data/probe-watch#A",
    },
    ["/bin/sh", "-c", 'echo "$$ $A"'],
    [],
    DENO_RUN_PROBE,
  );
  // Exec'd in place: the shell is the process the test started.
  assertEquals([r.code, r.stdout], [0, `${r.pid} store-a\n`], r.stderr);
  assert(!r.stderr.includes("watching the secrets"), r.stderr);
  const requests = (await audited()).slice(mark);
  assertEquals(requests.filter((p) => p.endsWith(" auth/probe-watch-kube/login")).length, 1);
  assertEquals(requests.filter((p) => p.startsWith("read demo-kv/data/probe-watch")).length, 1);
  assertEquals(requests.filter((p) => p.endsWith(" auth/token/revoke-self")).length, 1);
});

/** The injector as a container's first process: PID 1 of a PID and mount namespace of its own
 * (unshare, standing in for the container runtime) with a fresh /proc, running a shell that
 * sleeps. `enter` runs a command in it as a runtime's exec (and the kubelet's exec probe) does. */
async function startContainer(vars: Record<string, string>, supervised: boolean) {
  await setUp();
  const unshare = new Deno.Command("unshare", {
    args: [
      "--pid",
      "--fork",
      "--mount-proc",
      "--",
      ...DENO_RUN_INJECT,
      "/bin/sh",
      "-c",
      "sleep 120",
    ],
    clearEnv: true,
    env: { PATH, ...vars },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const output = unshare.output();
  const childrenOf = async (pid: number) =>
    (await Deno.readTextFile(`/proc/${pid}/task/${pid}/children`)).trim().split(/\s+/)
      .filter((w) => w).map(Number);
  let init = 0;
  // Up once PID 1 is the app (exec'd) or, supervised, once the app is its child.
  await waitUntil("the container's app runs", async () => {
    init = (await childrenOf(unshare.pid))[0] ?? 0;
    if (init === 0) return false;
    if (supervised) return (await childrenOf(init)).length === 1;
    return !(await Deno.readTextFile(`/proc/${init}/environ`)).includes("SECRETS_STORE_");
  }, 30_000);
  return {
    enter: ["nsenter", "--target", String(init), "--pid", "--mount", "--"],
    async stop() {
      // The namespace ends with its PID 1, and every process in it.
      Deno.kill(init, "SIGKILL");
      await output;
    },
  };
}

/** A kubernetes auth mount of its own (so its logins can be counted) with a role "probe". */
async function probeRole(mount: string): Promise<void> {
  await enableKubeAuth(env.bao, env.kube, mount);
  await env.bao.api("PUT", `auth/${mount}/role/probe`, {
    bound_service_account_names: GUIDE.serviceAccount,
    bound_service_account_namespaces: GUIDE.namespace,
    policies: "inject-test",
  });
}

/** Every request in OpenBao's audit log as "<operation> <path>" (request paths are not
 * HMAC'd); the tests' own setup only writes ("update"). */
async function audited(): Promise<string[]> {
  return (await Deno.readTextFile(env.bao.auditLog)).trim().split("\n").map((l) => JSON.parse(l))
    .filter((e) => e.type === "request")
    .map((e) => `${e.request.operation} ${e.request.path}`);
}

Deno.test("templates with a query, an encoded or a plain .. are refused naming the variable, and never sent", async () => {
  await setUp();
  await env.bao.api("PUT", "demo-kv/data/hostile-target", { data: { K: "must-not-leak-1" } });
  await env.bao.api("PUT", "demo-kv/data/hostile-target", { data: { K: "must-not-leak-2" } });
  const hostile = {
    QUERY: "secrets-store:demo-kv/data/hostile-target?version=1#K",
    ENCODED: "secrets-store:demo-kv/data/hostile-dir/%2e%2e/hostile-target#K",
    DOTDOT: "secrets-store:demo-kv/data/hostile-dir/../hostile-target#K",
    UPPER: "secrets-store:demo-kv/data/hostile-dir/%2E%2E/hostile-target#K",
  };
  for (const ignore of ["false", "true"]) {
    const r = await inject({
      ...settings({
        SECRETS_STORE_ROLE: "inject-test-role",
        SECRETS_STORE_IGNORE_MISSING_SECRETS: ignore,
      }),
      ...hostile,
      GOOD: "secrets-store:demo-kv/data/myapp-secret#DB_PASS",
    }, ["/usr/bin/env", "-0"]);
    if (ignore === "false") {
      assertEquals(r.code, 1);
      assertStringIncludes(
        r.stderr,
        'QUERY <- (malformed template): Variable QUERY: Invalid store path "demo-kv/data/hostile-target?version=1": character "?" is not allowed',
      );
      assertStringIncludes(
        r.stderr,
        'ENCODED <- (malformed template): Variable ENCODED: Invalid store path "demo-kv/data/hostile-dir/%2e%2e/hostile-target": character "%"',
      );
      assertStringIncludes(
        r.stderr,
        'DOTDOT <- (malformed template): Variable DOTDOT: Invalid store path "demo-kv/data/hostile-dir/../hostile-target": segment ".." is not allowed',
      );
      assertStringIncludes(r.stderr, "Variable UPPER: Invalid store path");
    } else {
      assertEquals(r.code, 0, r.stderr);
      // The app starts without them, never with a template or another path's value.
      assertEquals(parseEnv0(r.stdout), { PATH, GOOD: "secret-password" });
    }
    assert(!r.stderr.includes("must-not-leak") && !r.stdout.includes("must-not-leak"));
  }
  const requests = await audited();
  assertArrayIncludes(requests, ["read demo-kv/data/myapp-secret"], "the good template was read");
  assertEquals(
    requests.filter((r) => r.startsWith("read ") && r.includes("hostile")),
    [],
    "no hostile path was read",
  );
});

Deno.test("env-from-path path#N imports version N; without #N the latest", async () => {
  await setUp();
  await env.bao.api("PUT", "demo-kv/data/env-versions", { data: { A: "one", B: "only-in-v1" } });
  await env.bao.api("PUT", "demo-kv/data/env-versions", { data: { A: "two" } });
  const cases: Array<[string, Record<string, string>]> = [
    ["demo-kv/data/env-versions#1", { A: "one", B: "only-in-v1" }],
    ["demo-kv/data/env-versions#2", { A: "two" }],
    ["demo-kv/data/env-versions", { A: "two" }],
  ];
  for (const [entry, want] of cases) {
    const r = await inject(
      settings({ SECRETS_STORE_ROLE: "inject-test-role", SECRETS_STORE_ENV_FROM_PATH: entry }),
      ["/usr/bin/env", "-0"],
    );
    assertEquals(r.code, 0, r.stderr);
    assertEquals(parseEnv0(r.stdout), { PATH, ...want }, entry);
  }
});

Deno.test("a bad env-from-path entry stops the injector naming the variable and the entry, before any request", async () => {
  await setUp();
  const before = (await audited()).length;
  for (
    const [entry, why] of [
      ["demo-kv/data/hostile-dir/../hostile-target", 'segment ".." is not allowed'],
      ["demo-kv/data/hostile-target?version=1", 'character "?"'],
      ["demo-kv/data/hostile-target#latest", 'has version "latest"'],
    ]
  ) {
    const r = await inject(
      settings({ SECRETS_STORE_ENV_FROM_PATH: `demo-kv/data/myapp-secret,${entry}` }),
      ["/bin/sh", "-c", "echo app started"],
    );
    assertEquals(r.code, 1, r.stderr);
    assert(!r.stdout.includes("app started"));
    assertStringIncludes(r.stderr, `SECRETS_STORE_ENV_FROM_PATH: entry ${JSON.stringify(entry)}`);
    assertStringIncludes(r.stderr, why!);
  }
  assertEquals((await audited()).length, before, "nothing, not even a login, was sent");
});

Deno.test("an http address is refused unless SECRETS_STORE_ALLOW_INSECURE_HTTP is true, then works and warns", async () => {
  await setUp();
  // A plain-http path-routing proxy in front of OpenBao (tests/harness/path_proxy.ts), a
  // stand-in for a test installation's plain-http endpoint.
  const px = await proxyInFront(env.bao, env.dir, "inject-http-proxy", false);
  try {
    const vars = {
      ...settings({ SECRETS_STORE_ADDR: `${px.origin}/vault` }),
      P: "secrets-store:demo-kv/data/myapp-secret#DB_PASS",
    };
    const refused = await inject(vars, ["/bin/sh", "-c", "echo app started"]);
    assertEquals(refused.code, 1);
    assertStringIncludes(
      refused.stderr,
      `SECRETS_STORE_ADDR: Invalid store address "${px.origin}/vault": plain http`,
    );
    assertEquals(px.seen, [], "nothing was sent over http");
    const allowed = await inject({ ...vars, SECRETS_STORE_ALLOW_INSECURE_HTTP: "true" }, [
      "/usr/bin/env",
      "-0",
    ]);
    assertEquals(allowed.code, 0, allowed.stderr);
    // The switch is the injector's own setting: removed before execve like the others.
    assertEquals(parseEnv0(allowed.stdout), { PATH, P: "secret-password" });
    assertStringIncludes(allowed.stderr, "plain http");
  } finally {
    await px.close();
  }
});

Deno.test("an address with a path prefix reaches the store through a path-routing TLS proxy", async () => {
  await setUp();
  // The proxy is a stand-in for an operator's ingress that publishes the store under /vault.
  const px = await proxyInFront(env.bao, env.dir, "inject-proxy", true);
  try {
    const run = (addr: string) =>
      inject({
        ...settings({ SECRETS_STORE_ADDR: addr, SECRETS_STORE_CA_FILE: px.caFile! }),
        P: "secrets-store:demo-kv/data/myapp-secret#DB_PASS",
      }, ["/usr/bin/env", "-0"]);
    const r = await run(`${px.origin}/vault`);
    assertEquals(r.code, 0, r.stderr);
    assertEquals(parseEnv0(r.stdout).P, "secret-password");
    assertEquals(px.seen, [
      "POST /vault/v1/auth/kubernetes_local/login",
      "GET /vault/v1/sys/internal/ui/mounts/demo-kv/data/myapp-secret",
      "GET /vault/v1/demo-kv/data/myapp-secret",
      // The revoke keeps the prefix too.
      "POST /vault/v1/auth/token/revoke-self",
    ]);
    const bare = await run(px.origin);
    assertEquals(bare.code, 1);
    assertStringIncludes(bare.stderr, "not found");
    assertEquals(px.seen.at(-1), "POST /v1/auth/kubernetes_local/login");
  } finally {
    await px.close();
  }
});

Deno.test("the injector's store connection has TCP_NODELAY from the login on, so no read waits for a delayed ACK", async () => {
  await setUp();
  // In this process, as the injector's own source: the option is a socket's, not visible from
  // outside a process that execs at once.
  const source = storeSource(readSettings(settings()), silentLogger);
  const port = Number(new URL(env.bao.address).port);
  try {
    const secret = await source.read(
      parseStorePath(GUIDE.secretPath),
      undefined,
      AbortSignal.timeout(10_000),
    );
    assertEquals(secret.data.DB_PASS, "secret-password");
    const options = noDelayOf("remote", port);
    // The store client's connection, and any other this test process holds to the store.
    assert(options.length >= 1 && options.every((o) => o === 1), `TCP_NODELAY: ${options}`);
  } finally {
    await source.revoke?.(AbortSignal.timeout(5_000));
    source.close();
  }
});
