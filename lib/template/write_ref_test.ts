import {
  assert,
  assertEquals,
  assertStringIncludes,
  assertThrows,
} from "../../tests/harness/assert.ts";
import { isEnvTemplate, parseEnvValue, TemplateError } from "./template.ts";
import { MAX_BODY_DEPTH, MAX_WRITE_BODY, parseWriteRef } from "./write_ref.ts";

const PKI = ">>secrets-store:pki/issue/app";

Deno.test("parseWriteRef() reads path, key and body; no body is an empty object", () => {
  assertEquals(parseWriteRef("CERT", `${PKI}#certificate#{"common_name": "app.example.com"}`), {
    path: "pki/issue/app",
    key: "certificate",
    body: '{"common_name":"app.example.com"}',
  });
  assertEquals(parseWriteRef("USER", ">>secrets-store:database/creds/app#username"), {
    path: "database/creds/app",
    key: "username",
    body: "{}",
  });
});

Deno.test("parseWriteRef() keeps a '#' and a reference inside the body as literal text", () => {
  const w = parseWriteRef(
    "CERT",
    `${PKI}#certificate#{"common_name":"a#b","note":"\${secrets-store:kv/data/x#K}"}`,
  );
  assertEquals(JSON.parse(w.body), {
    common_name: "a#b",
    note: "${secrets-store:kv/data/x#K}",
  });
  // Read as a write first: the inline form inside its body is no reference to read.
  const t = parseEnvValue("CERT", `${PKI}#certificate#{"note":"\${secrets-store:kv/data/x#K}"}`);
  assertEquals(t?.kind, "write");
});

Deno.test("the same path and body make one write key whatever the whitespace", () => {
  const a = parseWriteRef("A", `${PKI}#certificate#{"common_name":"x.example.com"}`);
  const b = parseWriteRef("B", `${PKI}#private_key#{ "common_name" : "x.example.com" }\n`);
  assertEquals([a.path, a.body], [b.path, b.body]);
});

Deno.test("isEnvTemplate() and parseEnvValue() know write references and secrets-store:login", () => {
  assert(isEnvTemplate(`${PKI}#certificate`));
  assert(isEnvTemplate(">>secrets-store:broken"));
  assert(!isEnvTemplate("a >>secrets-store:pki/issue/app#certificate"));
  assertEquals(parseEnvValue("T", "secrets-store:login"), { kind: "login" });
  // A path named login is an ordinary read.
  assertEquals(parseEnvValue("T", "secrets-store:login#K")?.kind, "whole");
  const e = assertThrows(
    () => parseEnvValue("T", "Bearer ${secrets-store:login}"),
    TemplateError,
  );
  assertStringIncludes(
    e.message,
    "Variable T: secrets-store:login must be the variable's whole value",
  );
});

Deno.test("parseWriteRef() refuses hostile paths and keys, naming the variable", () => {
  const cases: Array<[string, string]> = [
    [">>secrets-store:pki/issue/app", 'no "#<key>"'],
    [">>secrets-store:#certificate", 'Invalid store path "": it is empty'],
    [`${PKI}#`, "empty key"],
    [`${PKI}##{}`, "empty key"],
    [`${PKI}#\${.certificate}`, "not a key template"],
    [">>secrets-store:pki/issue/../../sys/raw#k", 'segment ".." is not allowed'],
    [">>secrets-store:pki/issue/%2e%2e/x#k", 'character "%" is not allowed'],
    [">>secrets-store:pki/issue/%2E%2E/x#k", 'character "%" is not allowed'],
    [">>secrets-store:pki%2Fissue/x#k", 'character "%" is not allowed'],
    [">>secrets-store:pki/issue/app?x=1#k", 'character "?" is not allowed'],
    [">>secrets-store:/v1/pki/issue/app#k", 'starts with "/"'],
    [">>secrets-store:pki//issue#k", "empty segment"],
    [">>secrets-store:pki/issue/app\0#k", "U+0000"],
    [">>secrets-store:pki/issue/ap\u0301p#k", "U+0301"],
  ];
  for (const [value, part] of cases) {
    const e = assertThrows(() => parseWriteRef("CERT", value), TemplateError);
    assertStringIncludes(e.message, "Variable CERT: ");
    assertStringIncludes(e.message, part, value);
  }
});

Deno.test("parseWriteRef() refuses bodies that are not a small JSON object, never quoting them", () => {
  const secret = "must-not-leak";
  const deep = (n: number) => "[".repeat(n) + "]".repeat(n);
  const cases: Array<[string, string]> = [
    [`{"password": ${secret}}`, "is not valid JSON"],
    [`{"password": "${secret}"`, "is not valid JSON (Expected ',' or '}' after property value"],
    ['{"a": 1,}', "is not valid JSON (Expected double-quoted property name at character 9)"],
    [`"${secret}"`, "must be a JSON object ({...}), not a string"],
    ["[1, 2]", "not an array"],
    ["42", "not a number"],
    ["null", "not null"],
    ["true", "not a boolean"],
    ["", "is not valid JSON"],
    [`{"a": "${"x".repeat(MAX_WRITE_BODY)}"}`, `over the limit of ${MAX_WRITE_BODY}`],
    // 1 MiB and 100 MiB: refused by size before any parsing.
    [`{"a": "${"x".repeat(1 << 20)}"}`, "over the limit"],
    [`{"a": "${"é".repeat(MAX_WRITE_BODY / 2)}"}`, "over the limit"],
    [`{"a": ${deep(MAX_BODY_DEPTH)}}`, `nests deeper than ${MAX_BODY_DEPTH} levels`],
    [`{"a": ${deep(5000)}}`, "nests deeper"],
  ];
  for (const [body, part] of cases) {
    const e = assertThrows(
      () => parseWriteRef("CERT", `${PKI}#certificate#${body}`),
      TemplateError,
    );
    assertStringIncludes(
      e.message,
      "Variable CERT: the JSON body of the write to pki/issue/app ",
    );
    assertStringIncludes(e.message, part, body.slice(0, 40));
    assert(!e.message.includes(secret), e.message);
    assert(e.message.length < 300, "one short line, whatever the body");
  }
  const huge = `${PKI}#k#{"a":"${"x".repeat(100 << 20)}"}`;
  assertStringIncludes(
    assertThrows(() => parseWriteRef("CERT", huge), TemplateError).message,
    "over the limit",
  );
  // Depth is counted outside strings only: brackets in a value do not nest.
  const quoted = `{"a": "${"[".repeat(100)}", "b": [[1]]}`;
  assertEquals(JSON.parse(parseWriteRef("C", `${PKI}#k#${quoted}`).body).b, [[1]]);
  // The deepest accepted nesting.
  assertEquals(
    parseWriteRef("C", `${PKI}#k#{"a": ${deep(MAX_BODY_DEPTH - 1)}}`).path,
    "pki/issue/app",
  );
});
