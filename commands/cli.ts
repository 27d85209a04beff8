/** The `secrets-store` command line: one executable, the subcommand picks the role.
 *
 * The injector runs before every container start and every wrapped exec probe, always as
 * `inject -- <command…>` or, for a probe, `inject --probe -- <command…>` (the forms the webhook
 * writes). Those forms are taken here without
 * loading commander, whose module and the Node.js built-ins it pulls in were a large part of
 * the injector's start-up (docs/benchmarks.md); it means exactly what commander makes of it:
 * no other option, everything after `--` the command. Every other command line, `inject` with
 * options included, goes through commander (program.ts). */
import { injectAction } from "./inject_action.ts";

/** Runs the CLI; resolves to an exit code for `--help`/`--version`, throws otherwise. */
export async function run(args: string[]): Promise<number> {
  if (args[0] === "inject" && args[1] === "--" && args.length > 2) {
    await injectAction(args.slice(2), {});
    return 0;
  }
  if (args[0] === "inject" && args[1] === "--probe" && args[2] === "--" && args.length > 3) {
    await injectAction(args.slice(3), { probe: true });
    return 0;
  }
  const { runProgram } = await import("./program.ts");
  return await runProgram(args);
}
