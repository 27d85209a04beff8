import { Command } from "commander";
import { NotImplementedError } from "../lib/cli/errors.ts";

/** `secrets-store inject -- <cmd> [args…]`: resolve secrets into the environment, then execve. */
export function injectCommand(): Command {
  return new Command("inject")
    .description("resolve secrets-store: templates into the environment, then exec <command>")
    .argument("<command...>", "the program to run and its arguments (after --)")
    .passThroughOptions()
    .action(() => {
      throw new NotImplementedError("inject");
    });
}
