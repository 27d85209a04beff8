/** Entry point: the only place that exits. */
import { run } from "./commands/cli.ts";
import { AppExit, exitCodeOf, UsageError } from "./lib/cli/errors.ts";

if (import.meta.main) {
  let code: number;
  try {
    code = await run(Deno.args);
  } catch (e) {
    // Usage errors were already explained by the parser; print the rest once.
    if (!(e instanceof AppExit) && (!(e instanceof UsageError) || !e.cause)) {
      console.error(`secrets-store: ${e instanceof Error ? e.message : String(e)}`);
    }
    code = exitCodeOf(e);
  }
  Deno.exit(code);
}
