/** The full `secrets-store` command line through commander: every role, help and usage errors. */
import { Command, CommanderError } from "commander";
import { UsageError } from "../lib/cli/errors.ts";
import { VERSION } from "../lib/version.ts";
import { checkInstallCommand } from "./check_install.ts";
import { copySelfCommand } from "./copy_self.ts";
import { csiCommand } from "./csi.ts";
import { injectCommand } from "./inject.ts";
import { versionCommand } from "./version.ts";
import { webhookCommand } from "./webhook.ts";

/** Builds the program; commander's own exits are turned into thrown errors. */
export function program(): Command {
  const root = new Command("secrets-store")
    .description("Deliver secrets from a Vault-compatible store into Kubernetes workloads")
    .version(VERSION, "-V, --version")
    .enablePositionalOptions()
    .showHelpAfterError("(run with --help for usage)")
    .addCommand(webhookCommand())
    .addCommand(csiCommand())
    .addCommand(injectCommand())
    .addCommand(copySelfCommand())
    .addCommand(checkInstallCommand())
    .addCommand(versionCommand());
  // exitOverride must be set on every subcommand, or commander calls process.exit itself.
  const seal = (c: Command) => {
    c.exitOverride();
    c.commands.forEach(seal);
  };
  seal(root);
  return root;
}

/** Runs the CLI; resolves to an exit code for `--help`/`--version`, throws otherwise. */
export async function runProgram(args: string[]): Promise<number> {
  const cli = program();
  if (args.length === 0) {
    cli.outputHelp({ error: true });
    throw new UsageError("a subcommand is required");
  }
  try {
    await cli.parseAsync(args, { from: "user" });
    return 0;
  } catch (e) {
    if (!(e instanceof CommanderError)) throw e;
    if (e.code === "commander.helpDisplayed" || e.code === "commander.version") return 0;
    // Help shown because a group like `webhook` was given without its subcommand.
    if (e.code === "commander.help") throw new UsageError("a subcommand is required");
    // commander has already printed its one-line reason to stderr.
    throw new UsageError(e.message, { cause: e });
  }
}
