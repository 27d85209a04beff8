/** Options shared by the long-running roles. */
import { type Command, Option } from "commander";
import { LOG_LEVELS } from "../lib/log/logger.ts";

/** --kube-server, --kube-token-file, --kube-ca-file: in-cluster access when unset. */
export function kubeOptions(c: Command): Command {
  return c
    .option("--kube-server <url>", "Kubernetes API server (default: in-cluster)")
    .option("--kube-token-file <file>", "bearer token file for --kube-server")
    .option("--kube-ca-file <file>", "CA of --kube-server (PEM)");
}

/** --log-level and --json-log. */
export function logOptions(c: Command): Command {
  return c
    .addOption(new Option("--log-level <level>", "log level").choices(LOG_LEVELS).default("info"))
    .option("--json-log", "JSON log lines", false);
}
