import { Command } from "commander";
import type { WebhookFlags } from "../lib/webhook/run.ts";
import { kubeOptions, logOptions } from "./_options.ts";

/** `secrets-store webhook serve`: the mutating admission webhook. */
export function webhookCommand(): Command {
  const webhook = new Command("webhook").description("mutating admission webhook for Pods");
  const serve = webhook.command("serve")
    .description(
      "serve AdmissionReview v1 over HTTPS (POST /mutate, /healthz, /readyz, /metrics)\n" +
        "(every flag is checked before anything is served; denials and ignored annotations are\n" +
        "written as Events and returned as warnings)",
    )
    .option("--config <file>", "installation settings (YAML)", "/etc/secrets-store/webhook.yaml")
    .option("--listen <host:port>", "address to serve HTTPS on", "0.0.0.0:8443")
    .option(
      "--tls-cert <file>",
      "serving certificate (PEM), reloaded when it changes",
      "/etc/secrets-store/tls/tls.crt",
    )
    .option(
      "--tls-key <file>",
      "serving key (PEM), reloaded when it changes",
      "/etc/secrets-store/tls/tls.key",
    )
    .option(
      "--tls-reload-every <duration>",
      "how often to check the certificate files for changes",
      "10s",
    )
    .option(
      "--workers <n>",
      "serving threads sharing the port and the metrics (more threads help only where cores are free; see docs/benchmarks.md)",
      "1",
    );
  logOptions(kubeOptions(serve)).action(async (o: WebhookFlags) => {
    const { runWebhook } = await import("../lib/webhook/run.ts");
    await runWebhook(o);
  });
  return webhook;
}
