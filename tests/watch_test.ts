/** `restart-on-secret-change` against the real OpenBao: the injector stays as the app's
 * parent, polls the store and restarts the container (exit 2, termination message) only for
 * a confirmed change. Intervals are shortened with the tests-only minimum
 * (SECRETS_STORE_TEST_POLL_MINIMUM), which the webhook never sets. */
import { assert, assertEquals, assertStringIncludes } from "./harness/assert.ts";
import { testEnv } from "./harness/env.ts";
import { waitUntil } from "./harness/process.ts";
import { startInjector as start } from "./harness/injector.ts";
import { injectorSettings } from "./harness/injector_env.ts";
import { startLatencyProxy } from "./harness/latency_proxy.ts";
import { GUIDE, guideSaRole } from "./harness/store_setup.ts";
import { within } from "./harness/within.ts";

const env = testEnv();
const tokenFile = `${env.dir}/watch-sa-token`;
const SECRET = "demo-kv/data/watch-secret";
const ROLE = "watch-test-role";
const LONG_ROLE = "watch-long-role";

let ready: Promise<void> | undefined;
function setUp(): Promise<void> {
  return ready ??= (async () => {
    await env.bao.api("PUT", SECRET, { data: { PASS: "first" } });
    await env.bao.api("PUT", "sys/policies/acl/watch-test", {
      policy: 'path "demo-kv/data/watch-*" { capabilities = ["read"] }\n',
    });
    // A short token TTL, so the steady test sees the login renewed rather than repeated.
    await guideSaRole(env.bao, ROLE, { policies: "watch-test", ttl: "2s", max_ttl: "1h" });
    // A long TTL: no renewal comes due in a test, so only a refused read can cause a login.
    await guideSaRole(env.bao, LONG_ROLE, { policies: "watch-test", ttl: "10m" });
    await Deno.writeTextFile(
      tokenFile,
      await env.kube.tokenFor(GUIDE.namespace, GUIDE.serviceAccount),
    );
  })();
}

function settings(extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...injectorSettings(env, ROLE, tokenFile),
    SECRETS_STORE_RESTART_ON_SECRET_CHANGE: "watch-for-data",
    SECRETS_STORE_SECRET_POLL_INTERVAL: "300ms",
    SECRETS_STORE_TEST_POLL_MINIMUM: "100ms",
    SECRETS_STORE_LOG_LEVEL: "debug",
    PASS: `secrets-store:${SECRET}#PASS`,
    ...extra,
  };
}

const DEADLINE = 20_000;

Deno.test("a changed KV secret stops the app and ends the injector with 2 and the termination message", async () => {
  await setUp();
  await env.bao.api("PUT", SECRET, { data: { PASS: "first" } });
  const log = `${env.dir}/termination-log-change`;
  const r = start(
    settings({ SECRETS_STORE_TERMINATION_LOG: log }),
    'echo "$PASS"; exec sleep 60',
  );
  assertEquals(await within(DEADLINE, "the app's first line", r.line()), "first");
  await env.bao.api("PUT", SECRET, { data: { PASS: "changed-v2" } });
  const end = await within(DEADLINE, "the injector to restart the app", r.done);
  assertEquals(end.code, 2, end.stderr);
  assertEquals(await Deno.readTextFile(log), "secret values changed, restarting container\n");
  assertStringIncludes(end.stderr, "secret values changed, restarting container");
  // The log never holds a value, old or new.
  assert(!end.stderr.includes("changed-v2") && !/\bfirst\b/.test(end.stderr), end.stderr);
});

Deno.test("without a change the app runs on across many polls, and its exit code is the injector's", async () => {
  await setUp();
  await env.bao.api("PUT", SECRET, { data: { PASS: "steady" } });
  const log = `${env.dir}/termination-log-steady`;
  // The app runs for a while (many intervals of 300 ms), then ends with its own code.
  const r = start(settings({ SECRETS_STORE_TERMINATION_LOG: log }), "sleep 3; exit 5");
  const end = await within(DEADLINE, "the app to end", r.done);
  assertEquals(end.code, 5, end.stderr);
  const polls = end.stderr.split("\n").filter((l) => l.includes("read secret")).length;
  assert(polls >= 4, `only ${polls} reads:\n${end.stderr}`);
  const count = (what: string) => end.stderr.split("\n").filter((l) => l.includes(what)).length;
  assertEquals(count("logged in to the store"), 1, end.stderr);
  assert(count("renewed the store token") >= 1, end.stderr);
  assert(!(await exists(log)), "a termination message was written");
});

Deno.test("a store outage during polls keeps the app running, even while the secret changes", async () => {
  await setUp();
  await env.bao.api("PUT", SECRET, { data: { PASS: "before-outage" } });
  const port = Number(new URL(env.bao.address).port);
  const proxy = startLatencyProxy({ hostname: "127.0.0.1", port }, 0);
  const r = start(
    settings({
      SECRETS_STORE_ADDR: `https://127.0.0.1:${proxy.port}`,
      SECRETS_STORE_TERMINATION_LOG: `${env.dir}/termination-log-outage`,
    }),
    'echo "$PASS"; sleep 4; exit 0',
  );
  try {
    assertEquals(await within(DEADLINE, "the app's first line", r.line()), "before-outage");
  } finally {
    await proxy.close();
  }
  await env.bao.api("PUT", SECRET, { data: { PASS: "during-outage" } });
  const end = await within(DEADLINE, "the app to end", r.done);
  assertEquals(end.code, 0, end.stderr);
  assertStringIncludes(
    end.stderr,
    "cannot poll the store for changed secrets; the app keeps running",
  );
});

Deno.test("SIGTERM reaches the app, whose own exit code the injector keeps; a death by signal is 128+n", async () => {
  await setUp();
  const trapped = start(settings(), 'trap "exit 7" TERM; echo ready; while :; do sleep 0.1; done');
  assertEquals(await within(DEADLINE, "the app to be ready", trapped.line()), "ready");
  trapped.child.kill("SIGTERM");
  assertEquals((await within(DEADLINE, "the app to end", trapped.done)).code, 7);

  const plain = start(settings(), "echo ready; exec sleep 60");
  assertEquals(await within(DEADLINE, "the app to be ready", plain.line()), "ready");
  plain.child.kill("SIGHUP");
  const end = await within(DEADLINE, "the app to end", plain.done);
  assertEquals(end.code, 128 + 1, end.stderr);
  assert(!end.stderr.includes("secrets-store: "), end.stderr);
});

Deno.test("an orphaned grandchild that ends is reaped by the injector, not left a zombie", async () => {
  await setUp();
  // The inner shell starts a short sleep in the background and exits: the sleep is orphaned,
  // comes to the injector (PID 1 in a container, a subreaper here) and ends as its zombie.
  const r = start(settings(), 'sh -c "sleep 0.3 & echo \\$!"; sleep 5');
  const pid = Number(await within(DEADLINE, "the grandchild's pid", r.line()));
  assert(pid > 0);
  const injector = r.child.pid;
  let sawOurs = false;
  await waitUntil("the grandchild to be reaped", async () => {
    try {
      const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === injector) sawOurs = true;
      return false;
    } catch {
      return true; // gone: reaped
    }
  }, 4_000);
  assert(sawOurs, "the orphan was never the injector's child");
  const end = await within(DEADLINE, "the app to end", r.done);
  assertEquals(end.code, 0, end.stderr);
});

Deno.test("a revoked store token is replaced by a fresh login, and a change is still seen", async () => {
  await setUp();
  await env.bao.api("PUT", SECRET, { data: { PASS: "before-revoke" } });
  const r = start(
    settings({
      SECRETS_STORE_ROLE: LONG_ROLE,
      SECRETS_STORE_TERMINATION_LOG: `${env.dir}/termination-log-revoke`,
    }),
    'echo "$PASS"; exec sleep 60',
  );
  assertEquals(await within(DEADLINE, "the app's first line", r.line()), "before-revoke");
  // Every token this auth mount has issued is revoked: the next poll is refused (403).
  await env.bao.api("PUT", `sys/leases/revoke-prefix/auth/kubernetes_local/login`, {});
  await env.bao.api("PUT", SECRET, { data: { PASS: "after-revoke" } });
  const end = await within(DEADLINE, "the injector to restart the app", r.done);
  assertEquals(end.code, 2, end.stderr);
  const logins = end.stderr.split("\n").filter((l) => l.includes("logged in to the store"));
  assert(logins.length >= 2, end.stderr);
});

async function exists(file: string): Promise<boolean> {
  try {
    await Deno.stat(file);
    return true;
  } catch {
    return false;
  }
}

let writeReady: Promise<void> | undefined;
/** A role that may also write demo-kv/data/watch-write, whose every write is a new version. */
function writeRole(): Promise<void> {
  return writeReady ??= (async () => {
    await setUp();
    await env.bao.api("PUT", "sys/policies/acl/watch-write", {
      policy: 'path "demo-kv/data/watch-write" { capabilities = ["create", "update"] }\n',
    });
    await env.bao.api("PUT", "auth/kubernetes_local/role/watch-write-role", {
      bound_service_account_names: GUIDE.serviceAccount,
      bound_service_account_namespaces: GUIDE.namespace,
      policies: "watch-test,watch-write",
      ttl: "10m",
    });
  })();
}

/** How many requests OpenBao's audit log holds for `path`. */
async function auditedCount(path: string): Promise<number> {
  return (await Deno.readTextFile(env.bao.auditLog)).trim().split("\n").map((l) => JSON.parse(l))
    .filter((e) => e.type === "request" && e.request.path === path).length;
}

Deno.test("a write reference is sent once at start, never on a poll, and its value is no change", async () => {
  await writeRole();
  await env.bao.api("PUT", SECRET, { data: { PASS: "steady-with-write" } });
  const before = await auditedCount("demo-kv/data/watch-write");
  // Were the write sent again, each poll would make a new version: a change, and a restart.
  const r = start(
    settings({
      SECRETS_STORE_ROLE: "watch-write-role",
      SECRETS_STORE_TERMINATION_LOG: `${env.dir}/termination-log-write`,
      VERSION: '>>secrets-store:demo-kv/data/watch-write#version#{"data":{"n":"1"}}',
    }),
    'echo "$VERSION"; sleep 3; exit 0',
  );
  assert(Number(await within(DEADLINE, "the app's first line", r.line())) >= 1);
  const end = await within(DEADLINE, "the app to end", r.done);
  assertEquals(end.code, 0, end.stderr);
  const polls = end.stderr.split("\n").filter((l) => l.includes("read secret")).length;
  assert(polls >= 4, `only ${polls} reads:\n${end.stderr}`);
  assertEquals(await auditedCount("demo-kv/data/watch-write") - before, 1, end.stderr);
});

Deno.test("the app's store token (secrets-store:login) renewed is no change; replaced by a new login it restarts the app", async () => {
  await setUp();
  await env.bao.api("PUT", SECRET, { data: { PASS: "token-steady" } });
  // ROLE's 2 s TTL: the kept login is renewed during the run, and the app's copy with it.
  const steady = start(
    settings({ SECRETS_STORE_ALLOW_LOGIN_TOKEN: "true", VAULT_TOKEN: "secrets-store:login" }),
    'echo "$VAULT_TOKEN"; sleep 3; exit 0',
  );
  const token = await within(DEADLINE, "the app's token", steady.line());
  const ended = await within(DEADLINE, "the app to end", steady.done);
  assertEquals(ended.code, 0, ended.stderr);
  assert(ended.stderr.includes("renewed the store token"), ended.stderr);
  assert(!ended.stderr.includes(token), "the token is never logged");

  const log = `${env.dir}/termination-log-token`;
  const r = start(
    settings({
      SECRETS_STORE_ROLE: LONG_ROLE,
      SECRETS_STORE_ALLOW_LOGIN_TOKEN: "true",
      SECRETS_STORE_TERMINATION_LOG: log,
      VAULT_TOKEN: "secrets-store:login",
    }),
    'echo "$VAULT_TOKEN"; exec sleep 60',
  );
  const first = await within(DEADLINE, "the app's token", r.line());
  // The app's copy dies: the next poll is refused, logs in anew, and sees another token.
  await env.bao.api("POST", "auth/token/revoke", { token: first });
  const end = await within(DEADLINE, "the injector to restart the app", r.done);
  assertEquals(end.code, 2, end.stderr);
  assertEquals(await Deno.readTextFile(log), "secret values changed, restarting container\n");
});
