import { assertEquals } from "../../tests/harness/assert.ts";
import { exitCodeOf, FORWARDED, SIGNAL_NUMBERS } from "./signals.ts";

Deno.test("exitCodeOf() keeps the app's code and maps a death by signal n to 128 + n", () => {
  assertEquals(exitCodeOf({ code: 0, signal: null }), 0);
  assertEquals(exitCodeOf({ code: 7, signal: null }), 7);
  assertEquals(exitCodeOf({ code: 143, signal: "SIGTERM" }), 143);
  assertEquals(exitCodeOf({ code: 137, signal: "SIGKILL" }), 137);
  assertEquals(exitCodeOf({ code: 130, signal: "SIGINT" }), 130);
  assertEquals(exitCodeOf({ code: 139, signal: "SIGSEGV" }), 139);
});

Deno.test("the forwarded signals carry Linux's numbers", () => {
  assertEquals(
    FORWARDED.map((s) => SIGNAL_NUMBERS[s]),
    [15, 2, 1, 3, 10, 12, 28],
  );
});
