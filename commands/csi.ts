import { Command } from "commander";
import { NotImplementedError } from "../lib/cli/errors.ts";

/** `secrets-store csi serve`: the CSI node plugin. */
export function csiCommand(): Command {
  const csi = new Command("csi").description("CSI node plugin secrets-store.csi.deckhouse.io");
  csi.command("serve")
    .description("serve the CSI Identity and Node services on a unix socket")
    .action(() => {
      throw new NotImplementedError("csi serve");
    });
  return csi;
}
