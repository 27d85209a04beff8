import { assertEquals, assertStringIncludes, assertThrows } from "../../tests/harness/assert.ts";
import { parse } from "yaml";
import { compileTemplate } from "./engine.ts";
import { TemplateError } from "./error.ts";
import { FUNCTIONS } from "./functions.ts";
import { toYaml, type Value } from "./render_value.ts";

const render = (t: string, data: Value = {}) =>
  compileTemplate(t, { subject: "file f" }).render(data);

const SECRET = { user: "app", pass: "p:w", n: 5, t: true, z: null, list: [1, "x"], m: { a: "b" } };

Deno.test("base64: b64enc/base64Encode encode UTF-8, b64dec/base64Decode decode strictly", () => {
  assertEquals(render("${.v | b64enc}", { v: "héllo" }), "aMOpbGxv");
  assertEquals(render("${base64Encode .v}", { v: "hi" }), "aGk=");
  assertEquals(render("${.v | b64dec}", { v: "aMOpbGxv" }), "héllo");
  assertEquals(render("${base64Decode .v}", { v: "aGk=\n" }), "hi");
  const big = "x".repeat(100_000);
  assertEquals(render("${.v | b64enc | b64dec}", { v: big }), big);
  const bad = assertThrows(() => render("${.v | b64dec}", { v: "not base64!" }), TemplateError);
  assertStringIncludes(bad.message, "at 1:8: b64dec: the value is not valid base64");
  const binary = assertThrows(() => render("${.v | b64dec}", { v: "/w==" }), TemplateError);
  assertStringIncludes(binary.message, "not UTF-8 text");
});

Deno.test("JSON: toJson/toJSON compact, toPrettyJson/toJSONPretty indented, of a value or the secret", () => {
  assertEquals(render("${. | toJson}", SECRET), JSON.stringify(SECRET));
  assertEquals(render("${toJSON .user}", SECRET), '"app"');
  assertEquals(render("${.m | toPrettyJson}", SECRET), '{\n  "a": "b"\n}');
  assertEquals(render("${toJSONPretty .list}", SECRET), '[\n  1,\n  "x"\n]');
});

Deno.test("YAML: toYaml/toYAML render a value or a whole secret that parses back the same", () => {
  const tricky: Value = {
    plain: "text",
    "yes": "no",
    "1key": "0777",
    multi: "line1\nline2",
    q: 'say "hi": #not a comment',
    num: 1.5,
    bool: false,
    nul: null,
    emptyList: [],
    emptyMap: {},
    list: ["a", { k: "v", k2: [1, [2, 3]] }, []],
    nested: { deeper: { deepest: "x" } },
    "": "empty key",
  };
  const out = render("${. | toYaml}", tricky);
  assertEquals(parse(out), tricky);
  assertEquals(render("${toYAML .m}", SECRET), 'a: "b"\n');
  assertEquals(toYaml("s"), '"s"\n');
  assertEquals(toYaml([]), "[]\n");
  assertEquals(parse(toYaml([[["a"]], { a: [] }])), [[["a"]], { a: [] }]);
});

Deno.test("quote and squote", () => {
  assertEquals(render("${.v | quote}", { v: 'a"b\n' }), '"a\\"b\\n"');
  assertEquals(render("${squote .v}", { v: "a b" }), "'a b'");
  assertEquals(render("${.n | quote}", SECRET), '"5"');
});

Deno.test("trim/trimSpace, trimPrefix, trimSuffix", () => {
  assertEquals(render("${.v | trim}", { v: " \n a b \t" }), "a b");
  assertEquals(render("${trimSpace .v}", { v: " x " }), "x");
  assertEquals(render('${.v | trimPrefix "sk-"}', { v: "sk-123" }), "123");
  assertEquals(render('${trimPrefix "zz" .v}', { v: "sk-123" }), "sk-123");
  assertEquals(render('${.v | trimSuffix ".pem"}', { v: "key.pem" }), "key");
  assertEquals(render('${.v | trimSuffix ""}', { v: "key" }), "key");
});

Deno.test("urlquery escapes like Go's url.QueryEscape", () => {
  assertEquals(
    render("${.v | urlquery}", { v: "p@ss word/é:~_-." }),
    "p%40ss+word%2F%C3%A9%3A~_-.",
  );
  assertEquals(render("${.v | urlquery}", { v: "!'()*" }), "%21%27%28%29%2A");
});

Deno.test("default takes the fallback for a missing or empty value, and not otherwise", () => {
  for (const v of [null, "", 0, false, [], {}]) {
    assertEquals(render('${.v | default "d"}', { v }), "d");
  }
  assertEquals(render('${.nope | default "d"}', {}), "d");
  assertEquals(render('${.v | default "d"}', { v: "x" }), "x");
  assertEquals(render("${default 5432 .port}", {}), "5432");
  assertEquals(render('${.a.b | default "d"}', {}), "d");
});

Deno.test("index reads keys and list items; a missing one can be defaulted", () => {
  assertEquals(render('${index . "my-key"}', { "my-key": "v" }), "v");
  assertEquals(render('${index . "m" "a"}', SECRET), "b");
  assertEquals(render("${index .list 0}", SECRET), "1");
  assertEquals(render('${index . "nope" | default "d"}', {}), "d");
  const e = assertThrows(() => render('${index .user "a"}', SECRET), TemplateError);
  assertStringIncludes(e.message, "index: cannot index a string");
  const f = assertThrows(() => render('${index .list "a"}', SECRET), TemplateError);
  assertStringIncludes(f.message, "a list takes a whole number");
  const g = assertThrows(() => render("${index . 1}", SECRET), TemplateError);
  assertStringIncludes(g.message, "a map takes a string");
});

Deno.test("every function is covered by a test above", () => {
  const tested = [
    "b64enc",
    "base64Encode",
    "b64dec",
    "base64Decode",
    "toJson",
    "toJSON",
    "toPrettyJson",
    "toJSONPretty",
    "toYaml",
    "toYAML",
    "quote",
    "squote",
    "trim",
    "trimSpace",
    "trimPrefix",
    "trimSuffix",
    "urlquery",
    "default",
    "index",
  ];
  assertEquals([...FUNCTIONS.keys()].sort(), tested.sort());
});
