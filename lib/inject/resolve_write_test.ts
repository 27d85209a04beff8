/** Write references and secrets-store:login in resolveEnv(), over an in-memory source; the
 * real store is in tests/inject_write_test.ts. */
import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "../../tests/harness/assert.ts";
import { silentLogger } from "../log/logger.ts";
import { StoreError } from "../vault/errors.ts";
import { TransportError } from "../http/transport.ts";
import { parseEnvFromPath } from "../template/env_from_path.ts";
import { reportLines } from "./report.ts";
import { resolveEnv, ResolveError, type ResolveOptions, watchedEnv } from "./resolve.ts";
import type { SecretSource } from "./source.ts";

const CERT = '>>secrets-store:pki/issue/app#certificate#{"common_name":"app.example.com"}';
const KEY = '>>secrets-store:pki/issue/app#private_key#{ "common_name": "app.example.com" }';

/** Reads from `kv`, writes answer with a fresh certificate each time (as a PKI issue does),
 * `fail` decides a write's failure; every request is recorded. */
function store(o: { fail?: (path: string) => Error | undefined } = {}) {
  const requests: string[] = [];
  let issued = 0;
  const source: SecretSource = {
    name: "memory",
    read(path) {
      requests.push(`read ${path}`);
      if (path !== "kv/data/app") {
        return Promise.reject(
          new StoreError("not_found", "HTTP 404", { address: "memory", operation: "read", path }),
        );
      }
      return Promise.resolve({ path, kv: 2, data: { PASS: "kv-pass" } });
    },
    async write(path, body) {
      requests.push(`write ${path} ${body}`);
      await new Promise((r) => setTimeout(r, 1));
      const failure = o.fail?.(path);
      if (failure) throw failure;
      issued++;
      return {
        path,
        kv: 1,
        data: {
          certificate: `cert-${issued}`,
          private_key: `key-${issued}`,
          ca_chain: ["ca-1", "ca-2"],
        },
      };
    },
    token() {
      requests.push("token");
      return Promise.resolve("s.app-token");
    },
    close() {},
  };
  return { source, requests };
}

const BASE: ResolveOptions = {
  envFromPath: [],
  ignoreMissing: false,
  logger: silentLogger,
  signal: new AbortController().signal,
};
const opts = (o: Partial<ResolveOptions> = {}): ResolveOptions => ({ ...BASE, ...o });

Deno.test("variables taking keys of one write reference share one write, whatever the body's spacing", async () => {
  const s = store();
  const r = await resolveEnv(
    {
      CERT,
      KEY,
      CHAIN: '>>secrets-store:pki/issue/app#ca_chain#{"common_name":"app.example.com"}',
      OTHER: '>>secrets-store:pki/issue/app#certificate#{"common_name":"other.example.com"}',
    },
    s.source,
    opts(),
  );
  assertEquals(r.env, {
    CERT: "cert-1",
    KEY: "key-1",
    CHAIN: '["ca-1","ca-2"]',
    OTHER: "cert-2",
  });
  assertEquals(s.requests.sort(), [
    'write pki/issue/app {"common_name":"app.example.com"}',
    'write pki/issue/app {"common_name":"other.example.com"}',
  ]);
  assertEquals(r.writes, 2);
  assertEquals(r.gaveToken, false);
});

Deno.test("a write that failed after it may have been applied names the variable and path and is sent once", async () => {
  const s = store({
    fail: (path) =>
      new StoreError("server_error", "gateway lost the answer (HTTP 502)", {
        address: "memory",
        operation: "write",
        path,
        status: 502,
      }),
  });
  const e = await assertRejects(() => resolveEnv({ CERT, KEY }, s.source, opts()), ResolveError);
  assertStringIncludes(
    e.message,
    "CERT <- >>pki/issue/app#certificate: server error: Cannot write pki/issue/app from memory",
  );
  assertStringIncludes(e.message, "(not retried: the store may have applied the write)");
  assertStringIncludes(e.message, "KEY <- >>pki/issue/app#private_key: server error");
  assertEquals(s.requests.length, 1);
});

Deno.test("a write that certainly never left, or that the store refused, does not say it may be applied", async () => {
  const cases = [
    new StoreError("unreachable", "connection refused", {
      address: "memory",
      operation: "write",
      path: "pki/issue/app",
      cause: new TransportError("unreachable", "refused", undefined, true),
    }),
    new StoreError("bad_request", "common name not allowed (HTTP 400)", {
      address: "memory",
      operation: "write",
      path: "pki/issue/app",
      status: 400,
    }),
  ];
  for (const failure of cases) {
    const e = await assertRejects(
      () => resolveEnv({ CERT }, store({ fail: () => failure }).source, opts()),
      ResolveError,
    );
    assertStringIncludes(e.message, "CERT <- >>pki/issue/app#certificate:");
    assert(!e.message.includes("may have applied"), e.message);
  }
});

Deno.test("a key the write's answer lacks is named with the keys it has, never their values", async () => {
  const e = await assertRejects(
    () =>
      resolveEnv(
        { X: '>>secrets-store:pki/issue/app#certifcate#{"common_name":"a.example.com"}' },
        store().source,
        opts(),
      ),
    ResolveError,
  );
  assertStringIncludes(
    e.message,
    'X <- >>pki/issue/app#certifcate: the answer of the write to pki/issue/app has no key "certifcate" (it has "certificate", "private_key", "ca_chain")',
  );
  assert(!e.message.includes("cert-1") && !e.message.includes("key-1"), e.message);
});

Deno.test("no write is sent when a read, a template or an import fails and the app cannot start", async () => {
  const cases: Array<[Record<string, string>, string]> = [
    [{ CERT, PASS: "secrets-store:kv/data/gone#PASS" }, ""],
    [{ CERT, BAD: '>>secrets-store:pki/issue/app#k#{"cn": oops}' }, ""],
    [{ CERT, BAD: "secrets-store:broken" }, ""],
    [{ CERT }, "kv/data/gone"],
  ];
  for (const [env, imports] of cases) {
    const s = store();
    const e = await assertRejects(
      () => resolveEnv(env, s.source, opts({ envFromPath: parseEnvFromPath(imports) })),
      ResolveError,
    );
    assertStringIncludes(
      e.message,
      "(1 write reference(s) not sent, since the app could not start)",
    );
    assertEquals(s.requests.filter((q) => q.startsWith("write")), [], JSON.stringify(env));
  }
  // A malformed body alone: nothing at all is asked of the store.
  const s = store();
  await assertRejects(
    () => resolveEnv({ BAD: '>>secrets-store:pki/issue/app#k#{"cn": oops}' }, s.source, opts()),
    ResolveError,
  );
  assertEquals(s.requests, []);
});

Deno.test("with ignore-missing-secrets the writes are sent beside a failed read, and a failed write is dropped", async () => {
  const s = store({
    fail: (path) =>
      path === "pki/issue/broken"
        ? new StoreError("bad_request", "no role (HTTP 400)", {
          address: "memory",
          operation: "write",
          path,
        })
        : undefined,
  });
  const r = await resolveEnv(
    {
      CERT,
      BROKEN: ">>secrets-store:pki/issue/broken#certificate",
      PASS: "secrets-store:kv/data/gone#PASS",
    },
    s.source,
    opts({ ignoreMissing: true }),
  );
  assertEquals(r.env, { CERT: "cert-1" });
});

Deno.test("a poll neither repeats a write nor hands the template on, and the change hash leaves writes out", async () => {
  const s = store();
  const env = { CERT, PASS: "secrets-store:kv/data/app#PASS" };
  const start = await resolveEnv(env, s.source, opts());
  assertEquals(watchedEnv(start), { PASS: "kv-pass" });
  const poll = await resolveEnv(env, s.source, opts({ run: "poll", ignoreMissing: true }));
  assertEquals(poll.env, { PASS: "kv-pass" });
  assertEquals(watchedEnv(poll), watchedEnv(start));
  assertEquals(s.requests.filter((q) => q.startsWith("write")).length, 1);
  assertEquals(poll.assignments.find((a) => a.variable === "CERT")?.status, "skipped");
});

Deno.test("an env-from-path import of the same name wins over a write, and is watched", async () => {
  const s = store();
  const r = await resolveEnv(
    { PASS: CERT },
    s.source,
    opts({ envFromPath: parseEnvFromPath("kv/data/app") }),
  );
  assertEquals(r.env, { PASS: "kv-pass" });
  assertEquals(watchedEnv(r), { PASS: "kv-pass" });
});

Deno.test("a dry run sends no write, takes no token, and its report says it would write", async () => {
  const s = store();
  const r = await resolveEnv(
    { CERT, KEY, TOKEN: "secrets-store:login", PASS: "secrets-store:kv/data/app#PASS" },
    s.source,
    opts({ run: "dry-run", allowLoginToken: true }),
  );
  assertEquals(s.requests, ["read kv/data/app"]);
  assertEquals(r.env.CERT, undefined);
  const report = reportLines(r, ["app"]).join("\n");
  assertStringIncludes(
    report,
    "CERT      >>pki/issue/app#certificate  would write; not sent in a dry run",
  );
  assertStringIncludes(report, "TOKEN     secrets-store:login");
  assertStringIncludes(report, "1 distinct read(s), 2 write reference(s) not sent");
  assert(!report.includes("app.example.com"), "a body is never shown");
});

Deno.test("secrets-store:login is refused naming the variable, before any request, unless allowed", async () => {
  const s = store();
  const e = await assertRejects(
    () => resolveEnv({ TOKEN: "secrets-store:login", CERT }, s.source, opts()),
    ResolveError,
  );
  assertStringIncludes(
    e.message,
    "TOKEN <- secrets-store:login: it would give the app the injector's store token, which this installation does not allow (SECRETS_STORE_ALLOW_LOGIN_TOKEN is not true; chart value injector.allowLoginToken)",
  );
  assertEquals(s.requests, []);
  const dropped = await resolveEnv(
    { TOKEN: "secrets-store:login" },
    s.source,
    opts({ ignoreMissing: true }),
  );
  assertEquals(dropped.env, {});

  const allowed = await resolveEnv(
    { TOKEN: "secrets-store:login", ALSO: "secrets-store:login" },
    s.source,
    opts({ allowLoginToken: true }),
  );
  assertEquals(allowed.env, { TOKEN: "s.app-token", ALSO: "s.app-token" });
  assertEquals(allowed.gaveToken, true);
  assertEquals(s.requests, ["token"], "one token for every variable");
  // A poll takes the token again and hashes it: a new login is a change.
  const poll = await resolveEnv(
    { TOKEN: "secrets-store:login" },
    s.source,
    opts({ run: "poll", allowLoginToken: true }),
  );
  assertEquals(watchedEnv(poll), { TOKEN: "s.app-token" });
});

Deno.test("a source without writes or a token (a store file) fails the variable, naming it", async () => {
  const source: SecretSource = {
    name: "file:///tmp/store.yaml",
    read: () => Promise.reject(new Error("unused")),
    close() {},
  };
  const e = await assertRejects(
    () =>
      resolveEnv(
        { CERT, TOKEN: "secrets-store:login" },
        source,
        opts({ allowLoginToken: true }),
      ),
    ResolveError,
  );
  assertStringIncludes(
    e.message,
    "CERT <- >>pki/issue/app#certificate: a write reference needs the store; file:///tmp/store.yaml cannot answer writes",
  );
  assertStringIncludes(
    e.message,
    "TOKEN <- secrets-store:login: secrets-store:login needs the store",
  );
});
