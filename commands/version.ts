import { Command } from "commander";
import { versionLine } from "../lib/version.ts";

/** `secrets-store version`: prints the version line. */
export function versionCommand(): Command {
  return new Command("version")
    .description("print the version and exit")
    .action(() => console.log(versionLine()));
}
