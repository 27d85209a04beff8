/** The few assertions the tests use, on node:assert (JSR's @std/assert is unreachable here). */
import nodeAssert from "node:assert/strict";
import { isDeepStrictEqual } from "node:util";

/** Fails with `msg` unless `cond` is truthy. */
export function assert(cond: unknown, msg?: string): asserts cond {
  if (msg === undefined) nodeAssert.ok(cond);
  else nodeAssert.ok(cond, msg);
}

/** Deep, strict equality. */
export function assertEquals<T>(actual: unknown, expected: T, msg?: string): asserts actual is T {
  if (msg === undefined) nodeAssert.deepStrictEqual(actual, expected);
  else nodeAssert.deepStrictEqual(actual, expected, msg);
}

/** `text` contains `part`. */
export function assertStringIncludes(text: string, part: string, msg?: string): void {
  nodeAssert.ok(
    text.includes(part),
    msg ?? `expected ${JSON.stringify(text)} to include ${JSON.stringify(part)}`,
  );
}

/** `list` holds every element of `wanted` (deep, strict equality). */
export function assertArrayIncludes<T>(
  list: readonly T[],
  wanted: readonly T[],
  msg?: string,
): void {
  const missing = wanted.filter((w) => !list.some((x) => isDeepStrictEqual(x, w)));
  nodeAssert.ok(
    missing.length === 0,
    msg ?? `expected ${JSON.stringify(list)} to include ${JSON.stringify(missing)}`,
  );
}

/** `fn` rejects with an instance of `type`; returns the error for further checks. */
export async function assertRejects<E extends Error>(
  fn: () => Promise<unknown>,
  type: new (...args: never[]) => E,
): Promise<E> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof type) return e;
    throw new Error(
      `expected ${type.name}, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`,
    );
  }
  throw new Error(`expected ${type.name}, but it resolved`);
}

/** `fn` throws an instance of `type`; returns the error. */
export function assertThrows<E extends Error>(
  fn: () => unknown,
  type: new (...args: never[]) => E,
): E {
  try {
    fn();
  } catch (e) {
    if (e instanceof type) return e;
    throw new Error(
      `expected ${type.name}, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`,
    );
  }
  throw new Error(`expected ${type.name}, but nothing was thrown`);
}
