/** The store-path type against every name-and-path input of /work/shared/HOSTILE-INPUTS.md. */
import {
  assert,
  assertEquals,
  assertStringIncludes,
  assertThrows,
} from "../../tests/harness/assert.ts";
import {
  encodeStorePath,
  loginPath,
  MAX_STORE_PATH,
  parseStorePath,
  quote,
  readKey,
} from "./store_path.ts";

/** Asserts `fn` throws a TypeError whose message holds `why`; returns it. */
function refused(fn: () => unknown, why: string): TypeError {
  const e = assertThrows(fn, TypeError);
  assertStringIncludes(e.message, why);
  return e;
}

Deno.test("parseStorePath() keeps the guide's paths exactly as written", () => {
  for (
    const p of [
      "demo-kv/data/myapp-secret",
      "kubernetes_local",
      "remote-kube-1",
      "client-kv1/legacy",
      "kv/data/team.a/db~1/alice@corp/db:5432/a+b=c,d",
      "v1/data/x", // a mount may be called v1: not stripped, not refused
      "a/.../b", // three dots are a name, not a dot-segment
    ]
  ) {
    assertEquals(parseStorePath(p), p);
  }
});

Deno.test("parseStorePath() refuses dot, empty and slash segments, naming the path and the problem", () => {
  const cases: Array<[string, string]> = [
    ["", "it is empty"],
    [".", 'segment "." is not allowed'],
    ["..", 'segment ".." is not allowed'],
    ["a/../b", 'segment ".." is not allowed'],
    ["demo-kv/data/../other", 'segment ".." is not allowed'],
    ["./a", 'segment "." is not allowed'],
    ["a/.", 'segment "." is not allowed'],
    ["/demo-kv/data/x", 'it starts with "/"'],
    ["/v1/demo-kv/data/x", 'it starts with "/"'],
    ["demo-kv/data/x/", 'it ends with "/"'],
    ["/", 'it starts with "/"'],
    ["a//b", 'it holds an empty segment ("//")'],
  ];
  for (const [raw, why] of cases) {
    refused(() => parseStorePath(raw), `Invalid store path ${JSON.stringify(raw)}: ${why}`);
  }
  assertEquals(
    assertThrows(() => parseStorePath("a/../b"), TypeError).message,
    'Invalid store path "a/../b": segment ".." is not allowed',
  );
});

Deno.test("parseStorePath() refuses encoded, query, fragment and separator characters", () => {
  const cases: Array<[string, string]> = [
    ["demo-kv/data/%2e%2e/other", 'character "%"'],
    ["demo-kv/data/%2E%2E/other", 'character "%"'],
    ["demo-kv/data/a%2Fb", 'character "%"'],
    ["demo-kv/data/a%00", 'character "%"'],
    ["demo-kv/data/x?version=1", 'character "?"'],
    ["demo-kv/data/x#K", 'character "#"'],
    ["demo-kv/data/x;v=1", 'character ";"'],
    ["demo-kv\\data\\x", 'character "\\\\"'],
    ["demo-kv/data/my secret", "character U+0020"],
    ["demo-kv/data/x\t", "character U+0009"],
    ["demo-kv/data/x\n", "character U+000A"],
    ["demo-kv/data/x\r", "character U+000D"],
    ["demo-kv/data/x\u007f", "character U+007F"],
    ["demo-kv/data/x\0", "character U+0000"],
    ["demo-kv/data/a\0/../b", "character U+0000"],
  ];
  for (const [raw, why] of cases) {
    const e = refused(() => parseStorePath(raw), why);
    assertStringIncludes(e.message, `Invalid store path ${quote(raw)}`);
    // Control characters reach the message escaped, never raw (one log line stays one line).
    assert(![...e.message].some((c) => c.charCodeAt(0) < 0x20 || c === "\x7f"), e.message);
  }
});

Deno.test("parseStorePath() refuses non-ASCII letters and combining characters", () => {
  for (
    const [raw, why] of [
      ["demo-kv/data/сервис", "U+0441"], // Cyrillic, looks like Latin "c"
      ["demo-kv/data/cafe\u0301", "U+0301"], // e + combining acute accent
      ["demo-kv/data/caf\u00e9", "U+00E9"],
      ["demo-kv/data/\u{1F511}", "U+1F511"],
      ["demo-kv/data/a\u200bb", "U+200B"], // zero-width space
    ]
  ) {
    refused(() => parseStorePath(raw!), `character ${why} is not allowed`);
  }
  // 128 characters, 255 bytes in UTF-8: refused for its characters, whatever the length.
  const mixed = "é".repeat(127) + "a";
  assertEquals([mixed.length, new TextEncoder().encode(mixed).length], [128, 255]);
  refused(() => parseStorePath(`kv/data/${mixed}`), "U+00E9");
});

Deno.test("parseStorePath() takes a path up to the limit and refuses one past it, a huge one in a short message", () => {
  const at = "a/".repeat(MAX_STORE_PATH / 2 - 1) + "ab";
  assertEquals(at.length, MAX_STORE_PATH);
  assertEquals(parseStorePath(at), at);
  refused(() => parseStorePath(at + "c"), `longer than ${MAX_STORE_PATH}`);
  const huge = "a".repeat(1 << 20);
  const e = refused(() => parseStorePath(huge), "longer than");
  assert(e.message.length < 400, "the message quotes only the start of a huge path");
});

Deno.test("parseStorePath() maps nothing onto anything else: paths that differ stay different", () => {
  // No sanitising: a:b and a_b, A and a are distinct paths and distinct URLs.
  const pairs = [["kv/a:b", "kv/a_b"], ["kv/Secret", "kv/secret"], ["kv/a.b", "kv/a_b"]];
  for (const [x, y] of pairs) {
    assert(parseStorePath(x!) !== parseStorePath(y!));
    assert(encodeStorePath(parseStorePath(x!)) !== encodeStorePath(parseStorePath(y!)));
  }
});

Deno.test("encodeStorePath() percent-encodes each segment and keeps the separators", () => {
  assertEquals(
    encodeStorePath(parseStorePath("demo-kv/data/myapp-secret")),
    "demo-kv/data/myapp-secret",
  );
  assertEquals(
    encodeStorePath(parseStorePath("kv/data/alice@corp/db:5432/a+b=c,d~e")),
    "kv/data/alice%40corp/db%3A5432/a%2Bb%3Dc%2Cd~e",
  );
});

Deno.test("loginPath() is auth/<authPath>/login, also for a nested auth mount", () => {
  assertEquals(loginPath(parseStorePath("kubernetes_local")), "auth/kubernetes_local/login");
  assertEquals(loginPath(parseStorePath("k8s/cluster-1")), "auth/k8s/cluster-1/login");
});

Deno.test("readKey() tells every path and version apart, the latest from each version", () => {
  const a = parseStorePath("kv/data/app");
  const ab = parseStorePath("kv/data/app1");
  const keys = [readKey(a), readKey(a, 1), readKey(a, 11), readKey(ab), readKey(ab, 1)];
  assertEquals(new Set(keys).size, keys.length);
  assertEquals(readKey(a, 2), readKey(parseStorePath("kv/data/app"), 2));
});
