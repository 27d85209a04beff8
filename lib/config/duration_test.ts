import { assertEquals, assertStringIncludes, assertThrows } from "../../tests/harness/assert.ts";
import { parseDuration } from "./duration.ts";

Deno.test("parseDuration() reads Go-style durations", () => {
  assertEquals(parseDuration("10s"), 10_000);
  assertEquals(parseDuration("1m30s"), 90_000);
  assertEquals(parseDuration("500ms"), 500);
  assertEquals(parseDuration("1.5s"), 1500);
  assertEquals(parseDuration("2h"), 7_200_000);
  assertEquals(parseDuration("3"), 3000);
});

Deno.test("parseDuration() rejects junk and zero, quoting the input", () => {
  for (const bad of ["", "ten seconds", "10x", "s10", "0s", "-1s", "10s junk"]) {
    const e = assertThrows(() => parseDuration(bad), TypeError);
    assertStringIncludes(e.message, `"${bad}"`);
  }
  // Zero written as a bare number is zero too, and so is what rounds to 0 ms.
  for (const zero of ["0", "0.0", "0s", "0ms", "0m0s", "0.0004s", "0.0001"]) {
    assertEquals(
      assertThrows(() => parseDuration(zero), TypeError).message,
      `Cannot parse duration "${zero}": must be at least 1ms`,
    );
  }
});
