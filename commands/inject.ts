import { Command } from "commander";
import { seeDocs } from "../lib/troubleshooting.ts";

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
      "list which variable comes from which path and key (values masked); do not run",
    )
    .passThroughOptions()
    .action(async (command: string[], opts: { storeFile?: string; dryRun?: boolean }) => {
      // Loaded on use: the injector starts in every container and probe, so each role loads
      // only its own modules.
      const { inject } = await import("../lib/inject/inject.ts");
      try {
        await inject({
          command,
          env: Deno.env.toObject(),
          storeFile: opts.storeFile,
          dryRun: opts.dryRun,
        });
      } catch (e) {
        // What the container's log shows last: where it is explained. The error keeps its
        // class and exit code.
        if (e instanceof Error) e.message += seeDocs("injector");
        throw e;
      }
    });
}
