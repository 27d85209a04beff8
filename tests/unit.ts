/** `deno task unit`: the unit tests under `deno test`, with an overall deadline that names
 * the test still running when it is hit (harness/watchdog.ts). Arguments go to `deno test`;
 * UNIT_DEADLINE_S overrides the deadline (default 15 minutes). */
import { ROOT } from "./harness/process.ts";
import { runWithDeadline } from "./harness/watchdog.ts";

const deadlineMs = Number(Deno.env.get("UNIT_DEADLINE_S") ?? 900) * 1000;
const run = await runWithDeadline(["test", "--allow-all", ...Deno.args], { cwd: ROOT, deadlineMs });
Deno.exit(run.code);
