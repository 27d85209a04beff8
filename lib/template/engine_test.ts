import { assertEquals, assertStringIncludes, assertThrows } from "../../tests/harness/assert.ts";
import { compileTemplate, MASK } from "./engine.ts";
import { TemplateError } from "./error.ts";
import type { Value } from "./render_value.ts";

const SUBJECT = "Variable DB_URL";
const DATA: Value = {
  username: "app",
  password: "p@ss word/1",
  port: 5432,
  empty: "",
  "my-key": "dashed",
  nested: { inner: { deep: "d" } },
  list: ["a", "b"],
};

function render(t: string, data: Value = DATA): string {
  return compileTemplate(t, { subject: SUBJECT }).render(data);
}

/** The error of `fn`, checked to name the subject, the position and the reason. */
function fails(fn: () => unknown, at: string, reason: string): TemplateError {
  const e = assertThrows(fn, TemplateError);
  assertStringIncludes(e.message, SUBJECT);
  if (at) assertStringIncludes(e.message, at.endsWith(":") ? `at ${at}` : `at ${at}:`);
  assertStringIncludes(e.message, reason);
  return e;
}

Deno.test("render() substitutes fields between text, as the module's key templates do", () => {
  assertEquals(
    render("postgresql://${.username}:${.password}@db"),
    "postgresql://app:p@ss word/1@db",
  );
  assertEquals(render("no actions at all"), "no actions at all");
  assertEquals(render("${.nested.inner.deep}"), "d");
  assertEquals(render("${ .username }"), "app");
  assertEquals(render("a } b"), "a } b");
});

Deno.test("render() writes a value that is not a string as its JSON text", () => {
  assertEquals(render("${.port}"), "5432");
  assertEquals(render("${.list}"), '["a","b"]');
  assertEquals(render("${.nested}"), '{"inner":{"deep":"d"}}');
  assertEquals(render("${.}", { a: 1 }), '{"a":1}');
});

Deno.test("pipelines pass the value last, calls take arguments, parentheses nest", () => {
  assertEquals(render('${.empty | default "none"}'), "none");
  assertEquals(render('${default "none" .username}'), "app");
  assertEquals(render("${.missing | default (.username | quote)}"), '"app"');
  assertEquals(render('${index . "my-key"}'), "dashed");
  assertEquals(render("${index .list 1}"), "b");
  assertEquals(render('${"${" | trim}'), "${"); // how a template writes a literal "${"
  assertEquals(render("${`raw \\n`}"), "raw \\n");
  assertEquals(render('${"a\\tb\\u00e9\\x41"}'), "a\tbéA");
  assertEquals(render("${-3}"), "-3");
});

Deno.test("trim markers remove the blanks beside an action", () => {
  assertEquals(render("a  \n ${- .username -}  \n b"), "aappb");
  assertEquals(render("a ${.username -} b"), "a appb");
});

Deno.test("a missing field is an error naming the field and its position", () => {
  fails(() => render("x${.nope}"), "1:5", 'no field "nope"');
  fails(() => render("line1\n  ${.a.b}"), "2:6", 'no field "a"');
  fails(() => render("${.username.first}"), "1:13", 'cannot read field "first" of a string');
  fails(() => render('${index . "zz"}'), "1:3", "no such key");
  fails(() => render("${index .list 5}"), "1:3", "out of range");
  fails(() => render("${.nope | trim}"), "1:4", 'no field "nope"');
});

Deno.test("prototype properties are plain missing fields, never reachable", () => {
  for (const name of ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf"]) {
    fails(() => render(`\${.${name}}`), "1:4", `no field "${name}"`);
    fails(() => render(`\${.username.${name}}`), "1:13", "of a string");
    fails(() => render(`\${index . "${name}"}`), "1:3", "no such key");
    assertEquals(render(`\${.${name} | default "d"}`), "d");
  }
  fails(() => render("${.list.length}"), "1:9", 'cannot read field "length" of a list');
  // A key really named "__proto__" in the data is data, and nothing else.
  const data = JSON.parse('{"__proto__": "own"}') as Value;
  assertEquals(render("${.__proto__}", data), "own");
});

Deno.test("functions that could reach outside do not exist", () => {
  for (const name of ["env", "file", "readFile", "getenv", "exec", "constructor", "printf"]) {
    fails(() => render(`\${${name} "x"}`), "1:3", `unknown function "${name}"`);
  }
  fails(() => render("${$}"), "1:3", "variables ($) are not supported");
  fails(() => render("${ .a := 1}"), "1:7", 'unexpected character ":"');
});

Deno.test("syntax errors name their position and reason", () => {
  const cases: Array<[string, string, string]> = [
    ["abc ${.username", "1:5", 'unterminated action: no "}" after "${"'],
    ["${}", "1:3", 'missing value before "}"'],
    ['${"open}', "1:3", "unterminated string"],
    ["${`open}", "1:3", "unterminated raw string"],
    ['${"\\q"}', "1:4", "unknown escape"],
    ["${(.a | trim}", "1:13", 'unexpected "}" in parentheses'],
    ["${(.a}", "1:6", 'unexpected "}"'],
    ["${.a .b}", "1:6", "only a function takes arguments"],
    ["${.a | .b}", "1:8", 'only a function can follow "|"'],
    ["${.a |}", "1:7", 'missing value before "}"'],
    ["${b64enc}", "1:3", 'function "b64enc" takes 1 argument(s), got 0'],
    ["${.a | b64enc .b}", "1:8", "got 2 (the piped value counts as the last)"],
    ["${default .a trim}", "1:14", 'function "trim" used as an argument'],
    ["${.a.}", "1:5", 'a field name must follow "."'],
    ["${.a)}", "1:5", 'unexpected ")" in action'],
    ["${nope .a}", "1:3", 'unknown function "nope"'],
  ];
  for (const [t, at, reason] of cases) fails(() => render(t), at, reason);
});

Deno.test("positions count in the whole source when the template is a slice of it", () => {
  const value = "secrets-store:db/data/app#x${.nope}";
  const start = value.indexOf("#") + 1;
  const t = compileTemplate(value, { subject: SUBJECT, start });
  fails(() => t.render({}), "1:31", 'no field "nope"');
  // Text before the slice is not part of the template.
  assertEquals(t.render({ nope: "v" }), "xv");
});

Deno.test("limits: template length, output size and nesting each have their error", () => {
  const limits = { maxTemplateChars: 20, maxOutputBytes: 10, maxDepth: 3 };
  const c = (t: string) => compileTemplate(t, { subject: SUBJECT, limits });
  fails(() => c("x".repeat(21)), "", "21 characters, over the limit of 20 (maxTemplateChars)");
  c("x".repeat(20));
  fails(() => c("${.a}").render({ a: "12345678901" }), "1:1", "over 10 bytes (maxOutputBytes)");
  fails(() => c("${.a}").render({ a: "ééééé é" }), "1:1", "over 10 bytes"); // 11 bytes, 7 chars
  assertEquals(c("${.a}").render({ a: "1234567890" }), "1234567890");
  fails(() => c("${((((.a))))}"), "1:6", "nested deeper than 3 levels (maxDepth)");
  assertEquals(c("${(((.a)))}").render({ a: "x" }), "x");
  const d = (t: string) =>
    compileTemplate(t, { subject: SUBJECT, limits: { ...limits, maxOutputBytes: 1000 } });
  const deep = { a: { b: { c: { d: { e: "x" } } } } };
  fails(() => d("${.a}").render(deep), "1:1", "nested deeper than 3 levels");
  fails(() => d("${.a | toJson}").render(deep), "1:8", "nested deeper than 3 levels");
  assertEquals(d("${.a.b | toJson}").render(deep), '{"c":{"d":{"e":"x"}}}');
});

Deno.test("hostile templates fail fast with a clear error, never a crash", () => {
  const big = "${" + "(".repeat(100_000) + ".a" + ")".repeat(100_000) + "}";
  fails(() => render(big), "", "over the limit of 131072");
  const nested = "${" + "(".repeat(1000) + ".a" + ")".repeat(1000) + "}";
  fails(() => render(nested), "1:", "nested deeper than 32 levels");
  const manyActions = "${.username}".repeat(10_000);
  assertEquals(render(manyActions).length, 30_000);
  // Output growth through repeated encoding is bounded by the output limit.
  const grow = "${.a" + " | b64enc".repeat(40) + "}";
  fails(() => render(grow, { a: "x".repeat(1000) }), "1:", "over 1048576 bytes");
  // A value nested far deeper than the stack would allow for recursion.
  let deep: Value = "x";
  for (let i = 0; i < 100_000; i++) deep = { a: deep };
  fails(() => render("${.a | toYaml}", { a: deep }), "1:", "nested deeper than 32 levels");
});

Deno.test("errors never hold a value of the data", () => {
  const secret = "s3cr3t-VALUE";
  const data = { pw: secret, obj: { k: secret } };
  const templates = [
    "${.pw.x}",
    "${.pw | b64dec}",
    "${index .obj .pw}",
    "${index .pw 1}",
    "${.obj | trimPrefix .nope}",
  ];
  for (const t of templates) {
    const e = assertThrows(() => render(t, data), TemplateError);
    assertEquals(e.message.includes(secret), false, e.message);
  }
});

Deno.test("a masked rendering shows the text and hides every action's output", () => {
  const t = compileTemplate("postgresql://${.username}:${.password}@db", { subject: SUBJECT });
  assertEquals(t.render(DATA, { mask: true }), `postgresql://${MASK}:${MASK}@db`);
  // Errors still show under the mask.
  const bad = compileTemplate("${.nope}", { subject: SUBJECT });
  fails(() => bad.render(DATA, { mask: true }), "1:4", 'no field "nope"');
});

Deno.test("a template parsed once renders against new data each time", () => {
  const t = compileTemplate("${.v}", { subject: SUBJECT });
  assertEquals(t.render({ v: "1" }), "1");
  assertEquals(t.render({ v: "2" }), "2");
});
