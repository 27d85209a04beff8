import { assertEquals, assertStringIncludes } from "../../tests/harness/assert.ts";
import { describeIssues } from "../config/issues.ts";
import { SsiSchema } from "./ssi.ts";

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
