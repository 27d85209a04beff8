import { assertEquals, assertStringIncludes } from "../../tests/harness/assert.ts";
import { describeIssues } from "../config/issues.ts";
import { SsiSchema, templateOf } from "./ssi.ts";

const ssi = (spec: Record<string, unknown>) => ({ metadata: { name: "s", namespace: "n" }, spec });
const files = (name: string) => [{ name, source: { path: "demo-kv/data/x", key: "K" } }];

Deno.test("SsiSchema accepts the guide's myapp-ssi with defaults applied", () => {
  const r = SsiSchema.parse(ssi({ type: "CSI", role: "myapp-role", files: files("db-password") }));
  assertEquals(r.spec.files[0]!.decodeBase64, false);
  assertEquals(r.spec.skipTLSVerify, false);
});

Deno.test("SsiSchema refuses bad file names, missing fields and duplicates, naming the field", () => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ type: "CSI", role: "r", files: files("..") }, 'spec.files.0.name: must not be "." or ".."'],
    [{ type: "CSI", role: "r", files: files(".") }, "spec.files.0.name"],
    [{ type: "CSI", role: "r", files: files("a/b") }, "one path segment"],
    [{ type: "CSI", role: "r", files: [] }, "spec.files: must list at least one file"],
    [{ type: "CSI", files: files("a") }, "spec.role"],
    [{ type: "Env", role: "r", files: files("a") }, "spec.type"],
    [{ type: "CSI", role: "r", files: [...files("a"), ...files("a")] }, '"a" is listed twice'],
    [{ type: "CSI", role: "r", files: files("é".repeat(128)) }, "at most 255 bytes"],
    [{ type: "CSI", role: "r", files: files("a".repeat(256)) }, "spec.files.0.name"],
  ];
  for (const [spec, part] of cases) {
    const r = SsiSchema.safeParse(ssi(spec));
    assertEquals(r.success, false, part);
    assertStringIncludes(describeIssues(r.error!.issues), part);
  }
});

Deno.test("SsiSchema accepts names of 255 bytes, in ASCII or in 2-byte characters", () => {
  for (const name of ["a".repeat(255), "é".repeat(127) + "a"]) {
    assertEquals(
      SsiSchema.safeParse(ssi({ type: "CSI", role: "r", files: files(name) })).success,
      true,
    );
  }
});

Deno.test("SsiSchema checks source.path and authPath as store paths, naming the field", () => {
  const at = (path: string) => [{ name: "f", source: { path, key: "K" } }];
  const cases: Array<[Record<string, unknown>, string]> = [
    [
      { type: "CSI", role: "r", files: at("demo-kv/data/../other") },
      'spec.files.0.source.path: Invalid store path "demo-kv/data/../other": segment ".." is not allowed',
    ],
    [{ type: "CSI", role: "r", files: at("demo-kv/data/x?version=1") }, 'character "?"'],
    [{ type: "CSI", role: "r", files: at("demo-kv/data/%2e%2e/x") }, 'character "%"'],
    [{ type: "CSI", role: "r", files: at("/v1/demo-kv/data/x") }, 'starts with "/"'],
    [
      { type: "CSI", role: "r", authPath: "../sys", files: files("a") },
      'spec.authPath: Invalid store path "../sys"',
    ],
  ];
  for (const [spec, part] of cases) {
    const r = SsiSchema.safeParse(ssi(spec));
    assertEquals(r.success, false, part);
    assertStringIncludes(describeIssues(r.error!.issues), part);
  }
  // What the driver saves stays a plain string path.
  const ok = SsiSchema.parse(ssi({ type: "CSI", role: "r", files: files("a") }));
  assertEquals(JSON.parse(JSON.stringify(ok.spec.files[0]!.source)).path, "demo-kv/data/x");
});

const spec = (f: Record<string, unknown>) => ssi({ type: "CSI", role: "r", files: [f] });
const SRC = { path: "demo-kv/data/x" };

Deno.test("SsiSchema accepts templates over named sources, whole secrets and modes", () => {
  for (
    const f of [
      { name: "t", sources: { db: SRC, cache_2: { ...SRC, version: 2 } }, template: "${.db.a}" },
      { name: "j", source: SRC, format: "json" },
      { name: "y", source: SRC, format: "yaml", mode: "0400" },
      { name: "k", source: { ...SRC, key: "K" }, mode: "644" },
    ]
  ) {
    const r = SsiSchema.safeParse(spec(f));
    assertEquals(r.success, true, r.success ? "" : describeIssues(r.error.issues));
  }
});

Deno.test("SsiSchema refuses a bad mode, source name, template or mix of fields, naming the field", () => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [
      { name: "a", source: { ...SRC, key: "K" }, mode: "4755" },
      "spec.files.0.mode: must be an octal mode",
    ],
    [{ name: "a", source: { ...SRC, key: "K" }, mode: "0800" }, "spec.files.0.mode"],
    [{ name: "a", source: { ...SRC, key: "K" }, mode: 400 }, "spec.files.0.mode"],
    [{ name: "a", source: SRC }, "spec.files.0.format: a source without key is the whole secret"],
    [
      { name: "a", source: { ...SRC, key: "K" }, format: "json" },
      "spec.files.0.format: applies to a whole secret",
    ],
    [{ name: "a", source: SRC, format: "toml" }, "spec.files.0.format"],
    [{ name: "a", source: SRC, format: "json", decodeBase64: true }, "spec.files.0.decodeBase64"],
    [{ name: "a" }, "spec.files.0.source: a file needs source, or template with sources"],
    [{ name: "a", template: "x" }, "spec.files.0.sources: a template needs at least one source"],
    [{ name: "a", sources: { db: SRC } }, "spec.files.0.template: sources need a template"],
    [
      { name: "a", sources: { db: SRC }, template: "x", source: SRC },
      "spec.files.0.source: a file has either",
    ],
    [{ name: "a", sources: { "my-db": SRC }, template: "x" }, "spec.files.0.sources.my-db"],
    [
      { name: "a", sources: { db: { path: "../x" } }, template: "x" },
      "spec.files.0.sources.db.path",
    ],
    [
      { name: "a", sources: { db: SRC }, template: "ok\n${.db | env}" },
      'spec.files.0.template: file "a": at 2:9: unknown function "env"',
    ],
    [
      {
        name: "a",
        sources: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`s${i}`, SRC])),
        template: "x",
      },
      "must name at most 16 sources",
    ],
    [{ name: "a", sources: { db: SRC }, template: "x".repeat(131073) }, "spec.files.0.template"],
  ];
  for (const [f, part] of cases) {
    const r = SsiSchema.safeParse(spec(f));
    assertEquals(r.success, false, part);
    assertStringIncludes(describeIssues(r.error!.issues), part);
  }
});

Deno.test("a file's template is parsed once, by the schema's check, and reused", () => {
  const r = SsiSchema.parse(spec({ name: "t", sources: { db: SRC }, template: "${.db.a}" }));
  const f = r.spec.files[0]!;
  assertEquals(templateOf(f) === templateOf(f), true);
  assertEquals(templateOf(f).render({ db: { a: "1" } }), "1");
});
