import { assertEquals } from "../../tests/harness/assert.ts";
import { ENVIRON_LIMIT, parseEnviron, probeValues, readEnviron } from "./probe_env.ts";
import type { PathImport } from "../template/env_from_path.ts";
import type { StorePath } from "../config/store_path.ts";

const enc = (vars: Record<string, string>) =>
  new TextEncoder().encode(Object.entries(vars).map(([k, v]) => `${k}=${v}\0`).join(""));
const PROBE = {
  PATH: "/bin",
  DB_PASS: "secrets-store:demo-kv/data/app#DB_PASS",
  DB_USER: "secrets-store:demo-kv/data/app#DB_USER",
};
const APP = { PATH: "/usr/bin", DB_PASS: "pass", DB_USER: "user", OTHER: "x" };

Deno.test("the app's values replace the probe's templates; its other variables stay the probe's", () => {
  assertEquals(probeValues(PROBE, [], enc(APP)), {
    env: { PATH: "/bin", DB_PASS: "pass", DB_USER: "user" },
    taken: 2,
  });
});

Deno.test("every case that cannot show the values are the app's falls back, naming why", () => {
  const imports: PathImport[] = [{ path: "demo-kv/data/app" as StorePath }];
  const cases: Array<[string, ReturnType<typeof probeValues>]> = [
    ["env-from-path", probeValues(PROBE, imports, enc(APP))],
    ["unreadable", probeValues(PROBE, [], "unreadable")],
    ["too large", probeValues(PROBE, [], "too large")],
    ["not utf-8", probeValues(PROBE, [], new Uint8Array([0x41, 0x3d, 0xff, 0]))],
    // A watch mode's supervisor, or an injector that has not exec'd yet.
    ["injector", probeValues(PROBE, [], enc({ ...PROBE, SECRETS_STORE_ADDR: "https://s" }))],
    ["missing", probeValues(PROBE, [], enc({ DB_PASS: "pass" }))],
    ["template", probeValues(PROBE, [], enc({ ...APP, DB_USER: PROBE.DB_USER }))],
  ];
  assertEquals(cases.map(([c, r]) => [c, "fallback" in r ? r.fallback : "taken"]), [
    ["env-from-path", "env-from-path is set"],
    ["unreadable", "the environment of PID 1 is not readable by the probe's user"],
    ["too large", `the environment of PID 1 is over ${ENVIRON_LIMIT} bytes`],
    ["not utf-8", "the environment of PID 1 is not valid UTF-8"],
    ["injector", "PID 1 is an injector, not the app (it holds SECRETS_STORE_ADDR)"],
    ["missing", "PID 1 has no variable DB_USER"],
    ["template", "PID 1's variable DB_USER is a template"],
  ]);
  // No reason carries a value of the app's.
  for (const [, r] of cases) assertEquals(JSON.stringify(r).includes('pass"'), false);
});

Deno.test("environ parsing: values with '=' kept whole, a repeated name keeps its first, junk skipped", () => {
  const bytes = new TextEncoder().encode("A=x=y\0B=1\0B=2\0=nameless\0noequals\0C=\0");
  assertEquals(parseEnviron(bytes), new Map([["A", "x=y"], ["B", "1"], ["C", ""]]));
});

Deno.test("readEnviron reads <root>/1/environ up to the limit, and says when it cannot", async () => {
  const root = await Deno.makeTempDir();
  try {
    assertEquals(await readEnviron(root), "unreadable");
    await Deno.mkdir(`${root}/1`);
    await Deno.writeFile(`${root}/1/environ`, enc(APP));
    assertEquals(await readEnviron(root), enc(APP));
    await Deno.writeFile(`${root}/1/environ`, new Uint8Array(ENVIRON_LIMIT + 1));
    assertEquals(await readEnviron(root), "too large");
    await Deno.writeFile(`${root}/1/environ`, new Uint8Array(ENVIRON_LIMIT));
    assertEquals((await readEnviron(root) as Uint8Array).length, ENVIRON_LIMIT);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("a variable named like an Object member is looked up in PID 1's variables only", () => {
  const probe = { constructor: "secrets-store:demo-kv/data/app#X" };
  assertEquals(probeValues(probe, [], enc({ __proto__: "x" } as Record<string, string>)), {
    fallback: "PID 1 has no variable constructor",
  });
  assertEquals(probeValues(probe, [], new TextEncoder().encode("constructor=v\0__proto__=p\0")), {
    env: { constructor: "v" },
    taken: 1,
  });
});

Deno.test("a template variable named __proto__ gets the app's value as an own variable", () => {
  const probe = Object.fromEntries([["__proto__", "secrets-store:demo-kv/data/app#X"]]);
  const got = probeValues(probe, [], new TextEncoder().encode("__proto__=v\0"));
  assertEquals("env" in got && Object.entries(got.env), [["__proto__", "v"]]);
});

Deno.test("a write reference and secrets-store:login take the app's values too, so a probe writes nothing", () => {
  const probe = {
    CERT: '>>secrets-store:pki/issue/app#certificate#{"common_name":"a.example.com"}',
    TOKEN: "secrets-store:login",
  };
  assertEquals(probeValues(probe, [], enc({ CERT: "-----BEGIN CERT", TOKEN: "s.app" })), {
    env: { CERT: "-----BEGIN CERT", TOKEN: "s.app" },
    taken: 2,
  });
  // PID 1 still holding the write reference is no app: the probe asks the store.
  assertEquals(probeValues(probe, [], enc({ CERT: probe.CERT, TOKEN: "s.app" })), {
    fallback: "PID 1's variable CERT is a template",
  });
});
