import { Command, Option } from "commander";
import { LOG_LEVELS, type LogLevel } from "../lib/log/logger.ts";

/** `secrets-store webhook serve`: the mutating admission webhook. */
export function webhookCommand(): Command {
  const webhook = new Command("webhook").description("mutating admission webhook for Pods");
  webhook.command("serve")
    .description("serve AdmissionReview v1 over HTTPS (POST /mutate, /healthz, /readyz, /metrics)")
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
    .option("--kube-server <url>", "Kubernetes API server (default: in-cluster)")
    .option("--kube-token-file <file>", "bearer token file for --kube-server")
    .option("--kube-ca-file <file>", "CA of --kube-server (PEM)")
    .addOption(new Option("--log-level <level>", "log level").choices(LOG_LEVELS).default("info"))
    .option("--json-log", "JSON log lines", false)
    .action(async (o: {
      config: string;
      listen: string;
      tlsCert: string;
      tlsKey: string;
      tlsReloadEvery: string;
      kubeServer?: string;
      kubeTokenFile?: string;
      kubeCaFile?: string;
      logLevel: LogLevel;
      jsonLog: boolean;
    }) => {
      const { runWebhook } = await import("../lib/webhook/run.ts");
      await runWebhook(o);
    });
  return webhook;
}
