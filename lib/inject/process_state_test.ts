import { assertEquals, assertStringIncludes, assertThrows } from "../../tests/harness/assert.ts";
import { RLIM_INFINITY } from "../sys/libc.ts";
import { planLimits } from "./process_state.ts";
import { SettingsError } from "./settings.ts";

Deno.test("planLimits() gives the app the launcher's soft open-files limit", () => {
  assertEquals(planLimits(1024n, { soft: 4096n, hard: 4096n }, false), {
    state: { nofileSoft: 1024n },
  });
  assertEquals(planLimits(RLIM_INFINITY, { soft: 8n, hard: RLIM_INFINITY }, true), {
    state: { nofileSoft: RLIM_INFINITY },
  });
});

Deno.test("planLimits() refuses a launcher limit above the hard limit, naming the variable", () => {
  const e = assertThrows(
    () => planLimits(5000n, { soft: 4096n, hard: 4096n }, false),
    SettingsError,
  );
  assertStringIncludes(e.message, "SECRETS_STORE_RLIMIT_NOFILE=5000 is above the hard");
});

Deno.test("planLimits() leaves the compiled executable's limit alone and says when the CLI may have raised it", () => {
  assertEquals(planLimits(undefined, { soft: 1024n, hard: 4096n }, true), { state: {} });
  assertEquals(planLimits(undefined, { soft: 4096n, hard: 4096n }, true), { state: {} });
  // The CLI raises soft to hard; a soft limit below the hard one was not raised.
  assertEquals(planLimits(undefined, { soft: 1024n, hard: 4096n }, false), { state: {} });
  const raised = planLimits(undefined, { soft: 4096n, hard: 4096n }, false);
  assertEquals(raised.state, {});
  assertStringIncludes(raised.warning!, "SECRETS_STORE_RLIMIT_NOFILE=$(ulimit -S -n)");
});
