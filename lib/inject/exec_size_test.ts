import { assertEquals, assertStringIncludes, assertThrows } from "../../tests/harness/assert.ts";
import { execLimit, ExecSizeError, fitForExec, MAX_ARG_STRLEN } from "./exec_size.ts";

const secrets = new Map([["BIG", "demo-kv/data/big#BLOB"], ["SMALL", "demo-kv/data/x#K"]]);
const opts = { secrets, ignoreMissing: false, argMax: 2 * 1024 * 1024 };
// "BIG=" plus the value plus the NUL: exactly the limit, then one byte over.
const fits = "x".repeat(MAX_ARG_STRLEN - "BIG=".length - 1);

Deno.test("fitForExec() takes a variable of exactly MAX_ARG_STRLEN bytes and refuses one more", () => {
  assertEquals(fitForExec("/app", ["app"], { BIG: fits }, opts).dropped, []);
  const e = assertThrows(
    () => fitForExec("/app", ["app"], { BIG: fits + "x", SMALL: "s" }, opts),
    ExecSizeError,
  );
  assertEquals(
    e.message,
    "Cannot start the app: BIG (131073 bytes, from demo-kv/data/big#BLOB) is over Linux's 131072-byte limit for one variable, NAME=value and its NUL (MAX_ARG_STRLEN)",
  );
  // Multi-byte characters count as the bytes the kernel sees.
  assertThrows(() => fitForExec("/app", ["app"], { BIG: "é".repeat(65536) }, opts), ExecSizeError);
});

Deno.test("fitForExec() with ignore-missing-secrets drops an oversized secret, never another variable", () => {
  const r = fitForExec("/app", ["app"], { BIG: fits + "x", SMALL: "s", PATH: "/bin" }, {
    ...opts,
    ignoreMissing: true,
  });
  assertEquals(r.env, { SMALL: "s", PATH: "/bin" });
  assertEquals(r.dropped.map((d) => [d.variable, d.bytes, d.from]), [
    ["BIG", 131073, "demo-kv/data/big#BLOB"],
  ]);
  const e = assertThrows(
    () =>
      fitForExec("/app", ["app"], { CONFIG: "c".repeat(MAX_ARG_STRLEN - "CONFIG=".length) }, {
        ...opts,
        ignoreMissing: true,
      }),
    ExecSizeError,
  );
  assertStringIncludes(e.message, "CONFIG (131073 bytes) is over");
});

Deno.test("fitForExec() counts strings, NULs and pointers against ARG_MAX, as the kernel bounds it", () => {
  assertEquals(execLimit(64 * 1024), 128 * 1024);
  assertEquals(execLimit(2 ** 40), 6 * 1024 * 1024);
  const at = (limit: number) => ({ ...opts, argMax: limit });
  // /app\0 + app\0 + A=...\0 + BIG=...\0 + SMALL=s\0 + 4 pointers: exactly 131072 bytes.
  const a = 131_072 - (5 + 4) - 70_005 - 8 - 4 * 8 - "A=".length - 1;
  const big = { A: "a".repeat(a), BIG: "b".repeat(70_000), SMALL: "s" };
  assertEquals(fitForExec("/app", ["app"], big, at(131_072)).dropped, []);
  const e = assertThrows(
    () => fitForExec("/app", ["app"], { ...big, A: big.A + "a" }, at(131_072)),
    ExecSizeError,
  );
  assertStringIncludes(
    e.message,
    "the arguments and environment take 131073 bytes (strings, their NULs and a pointer each), over the 131072 bytes execve accepts",
  );
  assertStringIncludes(
    e.message,
    "the largest variables: BIG (70005 bytes, from demo-kv/data/big#BLOB), A (",
  );
});

Deno.test("fitForExec() with ignore-missing-secrets drops the largest secrets until the rest fits", () => {
  const env = { A: "a".repeat(61_000), BIG: "b".repeat(70_000), SMALL: "s".repeat(100) };
  const r = fitForExec("/app", ["app"], env, { ...opts, ignoreMissing: true, argMax: 131_072 });
  assertEquals(Object.keys(r.env).sort(), ["A", "SMALL"]);
  assertEquals(r.dropped.map((d) => d.variable), ["BIG"]);
  // Not enough to drop: A is the app's own.
  const e = assertThrows(
    () =>
      fitForExec("/app", ["app"], { ...env, A: "a".repeat(131_050) }, {
        ...opts,
        ignoreMissing: true,
        argMax: 131_072,
      }),
    ExecSizeError,
  );
  assertStringIncludes(e.message, "the largest variables: A (131053 bytes)");
});

Deno.test("fitForExec() takes an argument of exactly MAX_ARG_STRLEN bytes and refuses one more", () => {
  // The argument plus its NUL: exactly the limit, then one byte over.
  const arg = "a".repeat(MAX_ARG_STRLEN - 1);
  assertEquals(fitForExec("/app", ["app", arg], {}, opts).dropped, []);
  const e = assertThrows(() => fitForExec("/app", ["app", arg + "a"], {}, opts), ExecSizeError);
  assertStringIncludes(e.message, `argument 1 is ${MAX_ARG_STRLEN + 1} bytes`);
});
