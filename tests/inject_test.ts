/** `secrets-store inject` as the webhook starts it: settings in SECRETS_STORE_* variables, a
 * real ServiceAccount token from the test kube-apiserver, the real OpenBao, and execve. */
import { assert, assertEquals, assertStringIncludes } from "./harness/assert.ts";
import { testEnv } from "./harness/env.ts";
import { freePort, ROOT } from "./harness/process.ts";
import { enableKubeAuth, GUIDE } from "./harness/store_setup.ts";

const env = testEnv();
const tokenFile = `${env.dir}/inject-sa-token`;
const PATH = "/usr/local/bin:/usr/bin:/bin";

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

/** Runs the injector with exactly `vars` as its environment (plus PATH). */
async function inject(vars: Record<string, string>, command: string[]): Promise<Run> {
  await setUp();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--quiet", `${ROOT}/main.ts`, "inject", "--", ...command],
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

Deno.test("one run (as a wrapped exec probe runs) costs one login and one read per distinct path", async () => {
  // Counted by the store itself, in its audit log.
  await setUp();
  await enableKubeAuth(env.bao, env.kube, "probe-kube");
  await env.bao.api("PUT", "auth/probe-kube/role/probe", {
    bound_service_account_names: GUIDE.serviceAccount,
    bound_service_account_namespaces: GUIDE.namespace,
    policies: "inject-test",
  });
  await env.bao.api("PUT", "demo-kv/data/probe-a", { data: { A: "a", B: "b" } });
  await env.bao.api("PUT", "demo-kv/data/probe-b", { data: { C: "c" } });
  const r = await inject({
    ...settings({ SECRETS_STORE_AUTH_PATH: "probe-kube", SECRETS_STORE_ROLE: "probe" }),
    A: "secrets-store:demo-kv/data/probe-a#A",
    B: "secrets-store:demo-kv/data/probe-a#B",
    C: "secrets-store:demo-kv/data/probe-b#C",
  }, ["/bin/true"]);
  assertEquals(r.code, 0, r.stderr);
  const requests = (await Deno.readTextFile(env.bao.auditLog)).trim().split("\n").map((l) =>
    JSON.parse(l)
  )
    .filter((e) => e.type === "request")
    .map((e) => `${e.request.operation} ${e.request.path}`);
  assertEquals(requests.filter((p) => p.endsWith(" auth/probe-kube/login")).length, 1);
  assertEquals(requests.filter((p) => p.startsWith("read demo-kv/data/probe-")).sort(), [
    "read demo-kv/data/probe-a",
    "read demo-kv/data/probe-b",
  ]);
});
