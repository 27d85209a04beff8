import { Command } from "commander";
import { NotImplementedError } from "../lib/cli/errors.ts";

/** `secrets-store webhook serve`: the mutating admission webhook. */
export function webhookCommand(): Command {
  const webhook = new Command("webhook").description("mutating admission webhook for Pods");
  webhook.command("serve")
    .description("serve AdmissionReview v1 over HTTPS")
    .action(() => {
      throw new NotImplementedError("webhook serve");
    });
  return webhook;
}
