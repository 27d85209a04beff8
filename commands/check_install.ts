import { Command } from "commander";
import type { CheckInstallFlags } from "../lib/kube/install_check.ts";
import { kubeOptions, logOptions } from "./_options.ts";

/** `secrets-store check-install`: the chart's `helm test`. */
export function checkInstallCommand(): Command {
  const check = new Command("check-install")
    .description(
      "check an installation as the cluster sees it: call the webhook through its Service with the caBundle of its MutatingWebhookConfiguration (GET /readyz), and find the CSI driver's CSIDriver and its entry in the node's CSINode",
    )
    .option("--webhook <name>", "MutatingWebhookConfiguration whose webhooks must answer")
    .option("--csi-driver <name>", "CSI driver that must be registered")
    .option(
      "--node <name>",
      "node whose kubelet must have registered --csi-driver",
      Deno.env.get("NODE_NAME") ?? "",
    )
    .option("--timeout <duration>", "how long the checks may keep trying before they fail", "60s");
  return logOptions(kubeOptions(check)).action(async (o: CheckInstallFlags) => {
    const { runCheckInstall } = await import("../lib/kube/install_check.ts");
    await runCheckInstall(o);
  });
}
