import { assertEquals, assertStringIncludes, assertThrows } from "../../tests/harness/assert.ts";
import { parseTemplate, TemplateError } from "./template.ts";

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
