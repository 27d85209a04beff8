import { assertEquals, assertStringIncludes, assertThrows } from "../../tests/harness/assert.ts";
import type { Secret } from "../vault/client.ts";
import { parseStorePath, readKey } from "../config/store_path.ts";
import { FilePlanError, planFiles } from "./plan.ts";

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
