import { assertEquals } from "./assert.ts";
import { ROOT } from "./process.ts";
import { runWithDeadline } from "./watchdog.ts";

Deno.test("a test run past its deadline is killed and names the test still running", async () => {
  const run = await runWithDeadline(["test", "tests/harness/testdata/hangs.ts"], {
    cwd: ROOT,
    deadlineMs: 5_000,
  });
  assertEquals(run, { code: 124, overdue: "./tests/harness/testdata/hangs.ts > never ends" });
});
