/** Resolution logic over an in-memory source; the real store is exercised in tests/inject_test.ts. */
import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "../../tests/harness/assert.ts";
import { silentLogger } from "../log/logger.ts";
import { StoreError } from "../vault/errors.ts";
import { parseEnvFromPath } from "../template/env_from_path.ts";
import { needsStore, resolveEnv, ResolveError } from "./resolve.ts";
import type { SecretSource } from "./source.ts";

function memory(secrets: Record<string, Record<string, unknown>>) {
  const reads: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const source: SecretSource = {
    name: "memory",
    async read(path, version) {
      const id = version === undefined ? path : `${path}#${version}`;
      reads.push(id);
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      await new Promise((r) => setTimeout(r, 1));
      inFlight--;
      const data = secrets[id];
      if (!data) {
        throw new StoreError("not_found", "HTTP 404", {
          address: "memory",
          operation: "read",
          path,
          version,
        });
      }
      return { path, version, kv: 2, data };
    },
    close() {},
  };
  return { source, reads, maxInFlight: () => maxInFlight };
}

const opts = (o: Partial<Parameters<typeof resolveEnv>[2]> = {}) => ({
  envFromPath: [],
  ignoreMissing: false,
  signal: new AbortController().signal,
  logger: silentLogger,
  ...o,
});

const STORE = {
  "demo-kv/data/myapp-secret": {
    DB_USER: "username",
    DB_PASS: "secret-password",
    MY_SECRET: "from-import",
  },
  "demo-kv/data/myapp-secret#4": { DB_PASS: "v4" },
  "demo-kv/data/common-secret": { DB_USER: "common", COMMON: "c", PORT: 5432 },
  "demo-kv/data/other": { MY_SECRET: "templated" },
};

Deno.test("resolveEnv() fills templates and leaves other variables as they were", async () => {
  const m = memory(STORE);
  const r = await resolveEnv(
    {
      PASSWORD: "secrets-store:demo-kv/data/myapp-secret#DB_PASS",
      OLD: "secrets-store:demo-kv/data/myapp-secret#DB_PASS#4",
      USER: "secrets-store:demo-kv/data/myapp-secret#DB_USER",
      HOME: "/root",
    },
    m.source,
    opts(),
  );
  assertEquals(r.env, { PASSWORD: "secret-password", OLD: "v4", USER: "username", HOME: "/root" });
  assertEquals(m.reads.sort(), ["demo-kv/data/myapp-secret", "demo-kv/data/myapp-secret#4"]);
});

Deno.test("resolveEnv() imports every key of env-from-path, later paths winning", async () => {
  const m = memory(STORE);
  const r = await resolveEnv(
    {},
    m.source,
    opts({ envFromPath: parseEnvFromPath("demo-kv/data/common-secret,demo-kv/data/myapp-secret") }),
  );
  assertEquals(r.env, {
    DB_USER: "username",
    DB_PASS: "secret-password",
    MY_SECRET: "from-import",
    COMMON: "c",
    PORT: "5432",
  });
});

Deno.test("resolveEnv() lets an env-from-path import override a templated variable (the guide's MY_SECRET)", async () => {
  const m = memory(STORE);
  const r = await resolveEnv(
    { MY_SECRET: "secrets-store:demo-kv/data/other#MY_SECRET" },
    m.source,
    opts({ envFromPath: parseEnvFromPath("demo-kv/data/myapp-secret") }),
  );
  assertEquals(r.env.MY_SECRET, "from-import");
  assertEquals(r.assignments.find((a) => a.from === "template")?.status, "overridden");
});

Deno.test("resolveEnv() imports version N of an env-from-path entry path#N", async () => {
  const m = memory(STORE);
  const r = await resolveEnv({}, m.source, {
    ...opts({ envFromPath: parseEnvFromPath("demo-kv/data/myapp-secret#4") }),
  });
  assertEquals(r.env, { DB_PASS: "v4" });
  assertEquals(m.reads, ["demo-kv/data/myapp-secret#4"]);
});

Deno.test("resolveEnv() reports a malformed template path and reads nothing for it", async () => {
  const m = memory(STORE);
  const e = await assertRejects(() =>
    resolveEnv(
      { BAD: "secrets-store:demo-kv/data/x?version=1#K" },
      m.source,
      opts(),
    ), ResolveError);
  assertStringIncludes(e.message, "BAD <- (malformed template): Variable BAD: Invalid store path");
  assertEquals(m.reads, []);
});

Deno.test("resolveEnv() reads each distinct path and version once, a bounded number at a time", async () => {
  const secrets: Record<string, Record<string, unknown>> = {};
  const env: Record<string, string> = {};
  for (let i = 0; i < 40; i++) {
    secrets[`kv/data/s${i}`] = { K: `v${i}` };
    env[`A${i}`] = `secrets-store:kv/data/s${i}#K`;
    env[`B${i}`] = `secrets-store:kv/data/s${i}#K`;
  }
  const m = memory(secrets);
  const r = await resolveEnv(env, m.source, opts({ concurrency: 8 }));
  assertEquals(m.reads.length, 40);
  assertEquals(r.reads, 40);
  assert(m.maxInFlight() <= 8 && m.maxInFlight() > 1, `max in flight ${m.maxInFlight()}`);
});

Deno.test("resolveEnv() fails naming every failing path and key, without values", async () => {
  const m = memory(STORE);
  const e = await assertRejects(() =>
    resolveEnv(
      {
        A: "secrets-store:demo-kv/data/myapp-secret#NOPE",
        B: "secrets-store:demo-kv/data/missing#K",
        C: "secrets-store:demo-kv/data/myapp-secret#DB_PASS",
        D: "secrets-store:broken",
      },
      m.source,
      opts({ envFromPath: parseEnvFromPath("demo-kv/data/gone") }),
    ), ResolveError);
  assertStringIncludes(
    e.message,
    'A <- demo-kv/data/myapp-secret#NOPE: key "NOPE" not found in demo-kv/data/myapp-secret',
  );
  assertStringIncludes(e.message, "B <- demo-kv/data/missing#K: not found");
  assertStringIncludes(e.message, "demo-kv/data/gone (env-from-path): not found");
  assertStringIncludes(e.message, "Variable D");
  assert(!e.message.includes("secret-password"));
  assertEquals(e.failures.length, 4);
});

Deno.test("resolveEnv() with ignoreMissing drops what failed and never passes a template on", async () => {
  const m = memory(STORE);
  const warnings: string[] = [];
  const r = await resolveEnv(
    {
      A: "secrets-store:demo-kv/data/myapp-secret#NOPE",
      C: "secrets-store:demo-kv/data/myapp-secret#DB_PASS",
      D: "secrets-store:broken",
    },
    m.source,
    opts({
      ignoreMissing: true,
      envFromPath: parseEnvFromPath("demo-kv/data/gone"),
      logger: { ...silentLogger, warn: (msg, f) => warnings.push(`${msg} ${JSON.stringify(f)}`) },
    }),
  );
  assertEquals(r.env, { C: "secret-password" });
  assertEquals(warnings.length, 3);
  assert(warnings.every((w) => !w.includes("secret-password")));
});

Deno.test("needsStore() is false when nothing refers to the store", () => {
  assertEquals(needsStore({ A: "x", B: "mentions secrets-store:kv#k" }, []), false);
  assertEquals(needsStore({ A: "secrets-store:kv#k" }, []), true);
  assertEquals(needsStore({ A: "secrets-store:bad" }, []), true);
  assertEquals(needsStore({}, parseEnvFromPath("kv/data/x")), true);
});

Deno.test("resolveEnv() renders key templates and inline references, reading each path once", async () => {
  const m = memory({
    ...STORE,
    "db/data/app": { username: "app", password: "p@ss word" },
  });
  const r = await resolveEnv(
    {
      KEY: "secrets-store:db/data/app#postgresql://${.username}:${.password | urlquery}@db",
      INLINE:
        "postgres://${secrets-store:db/data/app#username}:${secrets-store:db/data/app#password}@db:5432/app",
      MIXED:
        "${HOME}-${secrets-store:demo-kv/data/myapp-secret#DB_USER}-${secrets-store:demo-kv/data/myapp-secret#DB_PASS#4}",
      NESTED: "u=${secrets-store:db/data/app#${.username | quote}}",
      PLAIN: "${HOME} stays",
    },
    m.source,
    opts(),
  );
  assertEquals(r.env, {
    KEY: "postgresql://app:p%40ss+word@db",
    INLINE: "postgres://app:p@ss word@db:5432/app",
    MIXED: "${HOME}-username-v4",
    NESTED: 'u="app"',
    PLAIN: "${HOME} stays",
  });
  assertEquals(m.reads.sort(), [
    "db/data/app",
    "demo-kv/data/myapp-secret",
    "demo-kv/data/myapp-secret#4",
  ]);
  assertEquals(r.reads, 3);
  const masked = Object.fromEntries(r.assignments.map((a) => [a.variable, a.masked]));
  assertEquals(masked, {
    KEY: "postgresql://********:********@db",
    INLINE: "postgres://********:********@db:5432/app",
    MIXED: "${HOME}-********-********",
    NESTED: "u=********",
  });
});

Deno.test("resolveEnv() names the variable, reference and template position of a failure, never a value", async () => {
  const m = memory({ "db/data/app": { username: "app", password: "hunter2" } });
  const e = await assertRejects(() =>
    resolveEnv(
      {
        KEY: "secrets-store:db/data/app#${.username}:${.nope}",
        INLINE: "a${secrets-store:db/data/app#username}b${secrets-store:db/data/app#gone}",
        DEC: "secrets-store:db/data/app#${.password | b64dec}",
      },
      m.source,
      opts(),
    ), ResolveError);
  assertStringIncludes(
    e.message,
    'KEY <- db/data/app#${.username}:${.nope}: key template at 1:43: no field "nope"',
  );
  assertStringIncludes(e.message, 'INLINE <- db/data/app#gone: key "gone" not found');
  assertStringIncludes(
    e.message,
    "DEC <- db/data/app#${.password | b64dec}: key template at 1:41: b64dec",
  );
  assert(!e.message.includes("hunter2") && !e.message.includes(": app"), e.message);
});

Deno.test("resolveEnv() with ignoreMissing drops a template that failed, never passes it on", async () => {
  const m = memory({ "db/data/app": { username: "app" } });
  const r = await resolveEnv(
    { KEY: "secrets-store:db/data/app#${.nope}", IN: "x${secrets-store:db/data/app#nope}" },
    m.source,
    opts({ ignoreMissing: true }),
  );
  assertEquals(r.env, {});
});

Deno.test("needsStore() counts inline references", () => {
  assertEquals(needsStore({ A: "x ${secrets-store:kv/data/a#k} y" }, []), true);
  assertEquals(needsStore({ A: "x ${HOME} y" }, []), false);
});
