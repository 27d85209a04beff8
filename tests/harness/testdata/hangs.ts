// A test file whose second test never ends, for watchdog_test.ts (not named *_test.ts, so no
// run picks it up by itself).
Deno.test("quick one", () => {});
Deno.test("never ends", () => new Promise(() => setInterval(() => {}, 1000)));
