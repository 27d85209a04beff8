import { Command } from "commander";
import { NotImplementedError } from "../lib/cli/errors.ts";

/** `secrets-store copy-self <dir>`: puts the executable into a shared volume. */
export function copySelfCommand(): Command {
  return new Command("copy-self")
    .description("copy this executable (and what it needs to start) into <dir>")
    .argument("<dir>", "target directory, usually a shared emptyDir")
    .action(() => {
      throw new NotImplementedError("copy-self");
    });
}
