import { assertEquals, assertStringIncludes, assertThrows } from "../../tests/harness/assert.ts";
import type { Secret } from "../vault/client.ts";
import { parseStorePath, readKey } from "../config/store_path.ts";
import { FilePlanError, planFiles } from "./plan.ts";
import { SsiFile } from "./ssi.ts";

const PATH = parseStorePath("demo-kv/data/myapp-secret");

const secrets = (data: Record<string, unknown>, version?: number) =>
  new Map<string, Secret>([[readKey(PATH, version), {
    path: PATH,
    kv: 2,
    data,
  }]]);

const file = (name: string, key: string, decodeBase64 = false) => ({
  name,
  decodeBase64,
  source: { path: PATH, key },
});

Deno.test("planFiles() makes one file per entry, text as UTF-8", () => {
  const files = planFiles(
    "ns/myapp-ssi",
    [file("db-password", "DB_PASS")],
    secrets({ DB_PASS: "secret-password" }),
    "a",
  );
  assertEquals(files.map((f) => [f.name, new TextDecoder().decode(f.bytes)]), [[
    "db-password",
    "secret-password",
  ]]);
});

Deno.test("planFiles() decodes base64 exactly, binary bytes included", () => {
  const bytes = new Uint8Array(256).map((_, i) => i);
  const b64 = btoa(String.fromCharCode(...bytes));
  const [f] = planFiles("ns/ssi", [file("keytab", "keytab", true)], secrets({ keytab: b64 }), "a");
  assertEquals(f!.bytes, bytes);
});

Deno.test("planFiles() refuses invalid base64 and a missing key, naming resource, file, path and key", () => {
  const bad = assertThrows(
    () =>
      planFiles(
        "ns/ssi",
        [file("keytab", "keytab", true)],
        secrets({ keytab: "not base64!" }),
        "a",
      ),
    FilePlanError,
  );
  for (
    const part of [
      "SecretsStoreImport ns/ssi",
      'file "keytab"',
      "demo-kv/data/myapp-secret#keytab",
      "not valid base64",
    ]
  ) {
    assertStringIncludes(bad.message, part);
  }
  const missing = assertThrows(
    () => planFiles("ns/ssi", [file("f", "NOPE")], secrets({}), "a"),
    FilePlanError,
  );
  assertStringIncludes(missing.message, 'key "NOPE" not found in demo-kv/data/myapp-secret');
});

const DB = parseStorePath("db/data/app");
const CACHE = parseStorePath("cache/data/redis");
const two = new Map<string, Secret>([
  [readKey(DB), { path: DB, kv: 2, data: { user: "app", pass: "p w", port: 5432 } }],
  [readKey(CACHE, 3), { path: CACHE, kv: 2, data: { url: "redis://r:6379" } }],
]);
const text = (f: { bytes: Uint8Array }) => new TextDecoder().decode(f.bytes);
const parsed = (f: Record<string, unknown>) =>
  SsiFile.parse(f) as Parameters<typeof planFiles>[1][number];

Deno.test("planFiles() renders a file template over named sources, each under its name", () => {
  const f = parsed({
    name: "config.yaml",
    sources: { db: { path: "db/data/app" }, cache: { path: "cache/data/redis", version: 3 } },
    template: "db: postgresql://${.db.user}:${.db.pass | urlquery}@db:${.db.port}\n" +
      "cache: ${.cache.url | quote}\n",
  });
  assertEquals(
    text(planFiles("ns/s", [f], two, "a")[0]!),
    'db: postgresql://app:p+w@db:5432\ncache: "redis://r:6379"\n',
  );
});

Deno.test("planFiles() writes a whole secret as JSON or YAML", () => {
  const json = parsed({ name: "all.json", source: { path: "db/data/app" }, format: "json" });
  const yaml = parsed({ name: "all.yaml", source: { path: "db/data/app" }, format: "yaml" });
  const [j, y] = planFiles("ns/s", [json, yaml], two, "a");
  assertEquals(JSON.parse(text(j!)), { user: "app", pass: "p w", port: 5432 });
  assertEquals(text(y!), 'user: "app"\npass: "p w"\nport: 5432\n');
});

Deno.test("planFiles() passes each file's mode on, the default left unset", () => {
  const files = planFiles(
    "ns/s",
    [
      parsed({ name: "k", source: { path: "db/data/app", key: "pass" }, mode: "0400" }),
      parsed({ name: "d", source: { path: "db/data/app", key: "pass" } }),
    ],
    two,
    "a",
  );
  assertEquals(files.map((f) => f.mode), [0o400, undefined]);
});

Deno.test("planFiles() names the resource, file and position of a failing template, never a value", () => {
  const f = parsed({
    name: "c",
    sources: { db: { path: "db/data/app" } },
    template: "line1\nx=${.db.nope}",
  });
  const e = assertThrows(() => planFiles("ns/s", [f], two, "a"), FilePlanError);
  assertStringIncludes(e.message, 'SecretsStoreImport ns/s, file "c": at 2:9: no field "nope"');
  const g = parsed({
    name: "g",
    sources: { db: { path: "db/data/app" } },
    template: "${.db.pass | b64dec}",
  });
  const e2 = assertThrows(() => planFiles("ns/s", [g], two, "a"), FilePlanError);
  assertEquals(e2.message.includes("p w"), false);
  const unread = assertThrows(() => planFiles("ns/s", [f], new Map(), "a"), FilePlanError);
  assertStringIncludes(unread.message, 'source "db" (db/data/app) was not read');
});
