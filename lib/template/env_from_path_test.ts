import { assertEquals, assertStringIncludes, assertThrows } from "../../tests/harness/assert.ts";
import { parseEnvFromPath } from "./env_from_path.ts";

Deno.test("parseEnvFromPath() reads the guide's list, with path#N as version N", () => {
  assertEquals(parseEnvFromPath("demo-kv/data/common-secret,demo-kv/data/myapp-secret"), [
    { path: "demo-kv/data/common-secret" },
    { path: "demo-kv/data/myapp-secret" },
  ]);
  assertEquals(parseEnvFromPath(" demo-kv/data/myapp-secret#4 , ,"), [
    { path: "demo-kv/data/myapp-secret", version: 4 },
  ]);
  assertEquals(parseEnvFromPath(""), []);
});

Deno.test("parseEnvFromPath() names the entry and the problem", () => {
  const cases: Array<[string, string]> = [
    ["a,b/../c", 'entry "b/../c": Invalid store path "b/../c": segment ".." is not allowed'],
    ["a/%2e%2e/b", 'character "%"'],
    ["a/b?version=1", 'character "?"'],
    ["a/b#0", 'has version "0"'],
    ["a/b#", 'has version ""'],
    ["a/b#-1", 'has version "-1"'],
    ["a/b#1#2", 'has 2 "#"'],
    ["#1", 'Invalid store path "": it is empty'],
    ["/v1/a/b", 'starts with "/"'],
  ];
  for (const [value, part] of cases) {
    assertStringIncludes(assertThrows(() => parseEnvFromPath(value), TypeError).message, part);
  }
});
