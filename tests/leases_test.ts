/** Dynamic secrets against the real OpenBao and a real PostgreSQL: OpenBao's database engine
 * (its built-in postgresql plugin) issues a PostgreSQL role per read, with a lease of 6 s
 * that can be renewed up to 20 s. The injector keeps the lease renewed while the app runs,
 * restarts the app before the lease ends, revokes it when the app ends on its own, and in
 * mode none keeps its store token, whose revocation would take the lease with it. Every
 * lease call is counted in OpenBao's audit log; every login is the app's own psql. */
import { assert, assertEquals, assertStringIncludes } from "./harness/assert.ts";
import { testEnv } from "./harness/env.ts";
import { startInjector } from "./harness/injector.ts";
import { injectorSettings } from "./harness/injector_env.ts";
import { waitUntil } from "./harness/process.ts";
import {
  databaseRole,
  mountDatabaseEngine,
  type Postgres,
  postgresBin,
  startPostgres,
} from "./harness/postgres.ts";
import { proxyInFront } from "./harness/path_proxy.ts";
import { baoApi, GUIDE, guideSaRole } from "./harness/store_setup.ts";
import { Suite } from "./harness/suite.ts";
import { within } from "./harness/within.ts";

const env = testEnv();
const MOUNT = "leases-db";
const CREDS = `${MOUNT}/creds/app`;
const ROLE = "leases-test-role";
const SHORT_TOKEN_ROLE = "leases-test-short-token";
const tokenFile = `${env.dir}/leases-sa-token`;
const DEADLINE = 60_000;

const suite = new Suite<Postgres>({
  setUp: async () => {
    const pg = await startPostgres();
    try {
      await mountDatabaseEngine(env.bao.api, MOUNT, pg, "leases-test");
      await databaseRole(env.bao.api, MOUNT, "app", { defaultTtl: "6s", maxTtl: "20s" });
      // A lease that outlives the test, so only the store token's renewal is at stake.
      await databaseRole(env.bao.api, MOUNT, "app-long", { defaultTtl: "10m" });
      await guideSaRole(env.bao, ROLE, { policies: "leases-test", ttl: "10m" });
      // Renewed at 30 s; its leases would be stopped for at 34 s (11 s before its end).
      await guideSaRole(env.bao, SHORT_TOKEN_ROLE, { policies: "leases-test", ttl: "45s" });
      await Deno.writeTextFile(
        tokenFile,
        await env.kube.tokenFor(GUIDE.namespace, GUIDE.serviceAccount),
      );
      return pg;
    } catch (e) {
      await pg.stop();
      throw e;
    }
  },
  tearDown: async (pg) => {
    // Unmounting revokes what is left, while PostgreSQL can still drop the roles.
    await env.bao.api("DELETE", `sys/mounts/${MOUNT}`);
    await pg.stop();
  },
  onUnload: () => pgStarted?.stopSync(),
});
let pgStarted: Postgres | undefined;
const setUp = async () => (pgStarted = await suite.ready());

function settings(extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...injectorSettings(env, ROLE, tokenFile),
    SECRETS_STORE_LOG_LEVEL: "debug",
    PGUSER: `secrets-store:${CREDS}#username`,
    PGPASSWORD: `secrets-store:${CREDS}#password`,
    ...extra,
  };
}

/** The app's psql login, once: prints "in as <role>", or "LOGIN FAILED". */
function login(pg: Postgres): string {
  return `if ${postgresBin()}/psql -h ${pg.host} -p ${pg.port} -d postgres -Atc ` +
    `"select 'in as ' || current_user"; then :; else echo "LOGIN FAILED"; fi`;
}

/** The audit log's length now, so a test counts only the requests after it. */
async function auditMark(): Promise<number> {
  return (await Deno.readTextFile(env.bao.auditLog)).trim().split("\n").length;
}

/** Requests to `path` since `mark`, each with whether the store answered it without error. */
async function audited(mark: number, path: string): Promise<Array<{ ok: boolean }>> {
  const entries = (await Deno.readTextFile(env.bao.auditLog)).trim().split("\n").slice(mark)
    .map((l) => JSON.parse(l));
  return entries.filter((e) => e.type === "response" && e.request?.path === path)
    .map((e) => ({ ok: !e.error }));
}

/** The order in which requests to `paths` came, since `mark`. */
async function requestOrder(mark: number, paths: string[]): Promise<string[]> {
  return (await Deno.readTextFile(env.bao.auditLog)).trim().split("\n").slice(mark)
    .map((l) => JSON.parse(l)).filter((e) => e.type === "request")
    .map((e) => e.request.path as string).filter((p) => paths.includes(p));
}

suite.test("the store revokes a token's leases with it (why a plain run that read one keeps its token)", async () => {
  const pg = await setUp();
  const created = await env.bao.api("POST", "auth/token/create", {
    policies: ["leases-test"],
    ttl: "10m",
  });
  const token = (created.auth as { client_token: string }).client_token;
  const asToken = baoApi({ ...env.bao, rootToken: token });
  const creds = (await asToken("GET", CREDS)).data as { username: string; password: string };
  assertEquals((await pg.psql("select current_user", creds)).out, creds.username);
  await asToken("POST", "auth/token/revoke-self");
  // The store revokes the token's leases in the background, within moments.
  await waitUntil("the lease to go with its token", async () => {
    return !(await pg.roleExists(creds.username));
  }, 10_000);
  assertEquals((await pg.psql("select 1", creds)).ok, false);
});

suite.test("watch-for-lease: the lease is renewed while the app uses it, and the app is restarted before it ends", async () => {
  const pg = await setUp();
  const mark = await auditMark();
  const termination = `${env.dir}/termination-log-lease`;
  const r = startInjector(
    settings({
      SECRETS_STORE_RESTART_ON_SECRET_CHANGE: "watch-for-lease",
      SECRETS_STORE_SECRET_POLL_INTERVAL: "1h",
      SECRETS_STORE_TERMINATION_LOG: termination,
      // Kept, so the lease runs to its maximum TTL after the app has stopped.
      SECRETS_STORE_REVOKE_TOKEN: "false",
    }),
    `echo "$PGUSER"; while :; do ${login(pg)}; sleep 0.3; done`,
  );
  const user = await within(DEADLINE, "the app's first line", r.line());
  assert(user.startsWith("v-"), user);
  const end = await within(DEADLINE, "the injector to restart the app", r.done);
  assertEquals(end.code, 2, end.stderr);
  assertEquals(
    await Deno.readTextFile(termination),
    "secret values changed, restarting container\n",
  );
  assertStringIncludes(end.stderr, "it reached its maximum TTL");
  // Every login the app made while it ran succeeded, on the lease's first credentials.
  const logins = end.stdout.trim().split("\n");
  assert(logins.length >= 10, end.stdout);
  assertEquals(new Set(logins), new Set([`in as ${user}`]), end.stdout);
  // 6 s leases up to 20 s: renewed at 4, 8, 12 and 16 s (the last one granted less than asked).
  const renewals = await audited(mark, "sys/leases/renew");
  assert(renewals.length >= 3 && renewals.every((x) => x.ok), JSON.stringify(renewals));
  assertEquals(await audited(mark, "sys/leases/revoke"), []);
  // And the lease does end (the store drops the role) after the app has stopped.
  await waitUntil("the lease to end", async () => !(await pg.roleExists(user)), 30_000);
  assert(!end.stderr.includes(pg.admin.password));
});

suite.test("watch-for-data: an app that ends on its own has its lease revoked, before the store token", async () => {
  const pg = await setUp();
  const mark = await auditMark();
  const r = startInjector(
    settings({
      SECRETS_STORE_RESTART_ON_SECRET_CHANGE: "watch-for-data",
      SECRETS_STORE_SECRET_POLL_INTERVAL: "300ms",
      SECRETS_STORE_TEST_POLL_MINIMUM: "100ms",
    }),
    // Past the first renewal (4 s); the polls meanwhile never read the dynamic secret again.
    `echo "$PGUSER"; ${login(pg)}; sleep 5; ${login(pg)}; exit 0`,
  );
  const user = await within(DEADLINE, "the app's first line", r.line());
  const end = await within(DEADLINE, "the app to end", r.done);
  assertEquals(end.code, 0, end.stderr);
  assertEquals(end.stdout.trim().split("\n"), [`in as ${user}`, `in as ${user}`]);
  assert((await audited(mark, "sys/leases/renew")).length >= 1, end.stderr);
  assertEquals(await audited(mark, "sys/leases/revoke"), [{ ok: true }]);
  assertEquals(await audited(mark, CREDS), [{ ok: true }], "the dynamic secret was read again");
  assertEquals(await requestOrder(mark, ["sys/leases/revoke", "auth/token/revoke-self"]), [
    "sys/leases/revoke",
    "auth/token/revoke-self",
  ]);
  assertEquals(await pg.roleExists(user), false);
});

suite.test("mode none: a run that read a lease keeps its store token, so the app's credentials work after execve", async () => {
  const pg = await setUp();
  const mark = await auditMark();
  const r = startInjector(settings(), `echo "$PGUSER"; sleep 0.5; ${login(pg)}`);
  const user = await within(DEADLINE, "the app's first line", r.line());
  const end = await within(DEADLINE, "the app to end", r.done);
  assertEquals(end.code, 0, end.stderr);
  assertEquals(end.stdout.trim(), `in as ${user}`);
  assertStringIncludes(end.stderr, "the store token is kept, not revoked");
  assertStringIncludes(end.stderr, CREDS);
  assertEquals(await audited(mark, "auth/token/revoke-self"), []);
  // The lease lives its TTL: the role is still there once the app has ended.
  assert(await pg.roleExists(user));
});

suite.test("watch-for-lease: a store token renewal answered 503 is retried, and the app keeps its login and lease", async () => {
  const pg = await setUp();
  const mark = await auditMark();
  // A TLS proxy in front of OpenBao (tests/harness/path_proxy.ts), a stand-in for a load
  // balancer whose store is restarting: it answers the first 4 renew-self requests 503 itself,
  // more than the client's own 3 attempts of one request.
  let unavailable = 4;
  const px = await proxyInFront(
    env.bao,
    env.dir,
    "leases-renew-proxy",
    true,
    {
      answer: (path) => path === "/v1/auth/token/renew-self" && unavailable-- > 0 ? 503 : undefined,
    },
  );
  const go = `${env.dir}/leases-renew-go`;
  try {
    const r = startInjector(
      {
        ...settings({
          SECRETS_STORE_ADDR: `${px.origin}/vault`,
          SECRETS_STORE_CA_FILE: px.caFile!,
          SECRETS_STORE_ROLE: SHORT_TOKEN_ROLE,
          SECRETS_STORE_RESTART_ON_SECRET_CHANGE: "watch-for-lease",
          SECRETS_STORE_SECRET_POLL_INTERVAL: "1h",
        }),
        PGUSER: `secrets-store:${MOUNT}/creds/app-long#username`,
        PGPASSWORD: `secrets-store:${MOUNT}/creds/app-long#password`,
      },
      `echo "$PGUSER"; ${login(pg)}; while [ ! -e ${go} ]; do sleep 0.2; done; ${login(pg)}`,
    );
    const user = await within(DEADLINE, "the app's first line", r.line());
    const started = Date.now();
    let renewed = false;
    // An app restarted meanwhile (the token given up) fails the test at once, with the log.
    const early = r.done.then((e) => {
      if (!renewed) throw new Error(`the app ended (${e.code}) before the renewal: ${e.stderr}`);
    });
    await Promise.race([
      early,
      waitUntil("the token to be renewed through the proxy", async () => {
        return (renewed = (await audited(mark, "auth/token/renew-self")).some((x) => x.ok));
      }, DEADLINE),
    ]);
    // Past the point (34 s after the login) where a given-up token would have had the app
    // stopped for its lease, with a margin: the app is still running.
    const pastStop = started + 38_000 - Date.now();
    if (pastStop > 0) await new Promise((wake) => setTimeout(wake, pastStop));
    await Deno.writeTextFile(go, "");
    const end = await within(DEADLINE, "the app to end", r.done);
    assertEquals(end.code, 0, end.stderr);
    assertEquals(end.stdout.trim().split("\n"), [`in as ${user}`, `in as ${user}`]);
    assertStringIncludes(end.stderr, "cannot renew the store token; retrying");
    assert(!end.stderr.includes("is not renewed"), end.stderr);
    assert(!end.stderr.includes("will end"), end.stderr);
    assertEquals(unavailable < 0, true, "every 503 was sent");
    assertEquals(await audited(mark, "auth/kubernetes_local/login"), [{ ok: true }]);
    assertEquals(await audited(mark, "auth/token/renew-self"), [{ ok: true }]);
  } finally {
    await px.close();
  }
});
