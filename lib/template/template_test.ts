import { assertEquals, assertStringIncludes, assertThrows } from "../../tests/harness/assert.ts";
import {
  isEnvTemplate,
  parseEnvValue,
  parseTemplate,
  refName,
  refsOf,
  TemplateError,
} from "./template.ts";

Deno.test("parseTemplate() reads path#key and path#key#version", () => {
  assertEquals(parseTemplate("P", "secrets-store:demo-kv/data/myapp-secret#DB_PASS"), {
    path: "demo-kv/data/myapp-secret",
    key: "DB_PASS",
  });
  assertEquals(parseTemplate("P", "secrets-store:demo-kv/data/myapp-secret#DB_PASS#4"), {
    path: "demo-kv/data/myapp-secret",
    key: "DB_PASS",
    version: 4,
  });
});

Deno.test("parseTemplate() leaves values that are not whole templates alone", () => {
  assertEquals(parseTemplate("P", "plain"), undefined);
  assertEquals(parseTemplate("P", "see secrets-store:demo-kv/data/x#K"), undefined);
  assertEquals(parseTemplate("P", ""), undefined);
});

Deno.test("parseTemplate() names the variable and the problem in a malformed template", () => {
  const cases: Array<[string, string]> = [
    ["secrets-store:demo-kv/data/x", '0 "#"'],
    ["secrets-store:#K", 'Invalid store path "": it is empty'],
    ["secrets-store:demo-kv/data/x#", "empty key"],
    ["secrets-store:demo-kv/data/x#K#latest", 'version "latest"'],
    ["secrets-store:demo-kv/data/x#K#0", 'version "0"'],
    ["secrets-store:a#b#1#2", '3 "#"'],
    // The attacks: a query, a fragment lost from the path, encoded and plain "..".
    [
      "secrets-store:demo-kv/data/x?version=1#K",
      'Invalid store path "demo-kv/data/x?version=1": character "?" is not allowed',
    ],
    ["secrets-store:demo-kv/data/%2e%2e/other#K", 'character "%" is not allowed'],
    ["secrets-store:demo-kv/data/../other#K", 'segment ".." is not allowed'],
    ["secrets-store:/v1/demo-kv/data/x#K", 'starts with "/"'],
    ["secrets-store:demo-kv/data/x y#K", "character U+0020"],
    ["secrets-store:demo-kv/data/x\0#K", "character U+0000"],
  ];
  for (const [value, part] of cases) {
    const e = assertThrows(() => parseTemplate("DB_PASS", value), TemplateError);
    assertStringIncludes(e.message, "Variable DB_PASS");
    assertStringIncludes(e.message, part);
  }
});

Deno.test("parseEnvValue() reads a key template, its version after the last '}' only", () => {
  const t = parseEnvValue(
    "URL",
    "secrets-store:db/data/app#postgresql://${.username}:${.password}@db",
  );
  assertEquals(t?.kind, "whole");
  const ref = refsOf(t!)[0]!;
  assertEquals([ref.path, ref.key, ref.version], [
    "db/data/app",
    "postgresql://${.username}:${.password}@db",
    undefined,
  ]);
  assertEquals(ref.template?.render({ username: "u", password: "p" }), "postgresql://u:p@db");
  const v = refsOf(parseEnvValue("URL", "secrets-store:db/data/app#${.u}#4")!)[0]!;
  assertEquals([v.key, v.version], ["${.u}", 4]);
  // A "#" inside the template is the template's.
  const h = refsOf(parseEnvValue("URL", 'secrets-store:db/data/app#${.u | default "#"}')!)[0]!;
  assertEquals([h.key, h.version], ['${.u | default "#"}', undefined]);
});

Deno.test("parseEnvValue() finds inline references and leaves every other text alone", () => {
  const t = parseEnvValue(
    "URL",
    "postgres://${secrets-store:db/data/app#user}:${secrets-store:db/data/app#pass#2}@${HOST}:5432",
  );
  assertEquals(t?.kind, "inline");
  if (t?.kind !== "inline") return;
  assertEquals(t.parts.map((p) => typeof p === "string" ? p : refName(p)), [
    "postgres://",
    "db/data/app#user",
    ":",
    "db/data/app#pass#2",
    "@${HOST}:5432",
  ]);
  // The module's form of an inline key template: the template's "}" nests.
  const k = parseEnvValue("K", 'a${secrets-store:db/data/app#${.x | default "}"}}b');
  assertEquals(k?.kind === "inline" && k.parts.length, 3);
  assertEquals(parseEnvValue("H", "${HOME}/x"), undefined);
  assertEquals(parseEnvValue("H", "plain"), undefined);
});

Deno.test("parseEnvValue() names the variable and the position of a malformed reference", () => {
  const cases: Array<[string, string]> = [
    ["x ${secrets-store:db/data/app#user", 'Variable V: at 1:3: unterminated "${secrets-store:"'],
    ["${secrets-store:db/data/app}", 'has 0 "#"'],
    ["${secrets-store:db/data/../x#k}", 'segment ".." is not allowed'],
    ["secrets-store:db/data/app#${.a | nope}", 'Variable V: at 1:34: unknown function "nope"'],
    ["secrets-store:db/data/app#${.a}#x", 'version "x"'],
    ["ab${secrets-store:db/data/app#${.a.}}", "Variable V: at 1:35:"],
  ];
  for (const [value, part] of cases) {
    const e = assertThrows(() => parseEnvValue("V", value), TemplateError);
    assertStringIncludes(e.message, part);
  }
});

Deno.test("isEnvTemplate() is true for whole and inline references, malformed ones too", () => {
  assertEquals(isEnvTemplate("secrets-store:bad"), true);
  assertEquals(isEnvTemplate("a ${secrets-store:x"), true);
  assertEquals(isEnvTemplate("a ${HOME} secrets-store:x"), false);
});
