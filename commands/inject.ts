import { Command } from "commander";
import { injectAction, type InjectFlags } from "./inject_action.ts";

/** `secrets-store inject -- <cmd> [args…]`: resolve secrets into the environment, then execve. */
export function injectCommand(): Command {
  return new Command("inject")
    .description(
      "resolve secrets-store: templates and env-from-path imports into the environment, then exec <command>\n" +
        "(settings come from SECRETS_STORE_* variables, which the app never sees)",
    )
    .argument("<command...>", "the program to run and its arguments (after --)")
    .option(
      "--store-file <file>",
      "read secrets from a local YAML/JSON file laid out like the store",
    )
    .option(
      "--dry-run",
      "list which variable comes from which path and key (values masked); do not run, send no write",
    )
    .option(
      "--probe",
      "run as a wrapped exec probe: take the app's values from PID 1 when they are provably its",
    )
    .passThroughOptions()
    .action((command: string[], opts: InjectFlags) => injectAction(command, opts));
}
