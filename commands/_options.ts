/** Options shared by the long-running roles. */
import { type Command, Option } from "commander";
import { LOG_LEVELS } from "../lib/log/logger.ts";

/** --kubeconfig, --kube-server, --kube-token-file, --kube-ca-file: in-cluster access when
 * none is given (and KUBECONFIG is unset). */
export function kubeOptions(c: Command): Command {
  return c
    .option(
      "--kubeconfig <file>",
      "reach the Kubernetes API server through this kubeconfig's current context (server, CA, token or client certificate; exec and auth-provider plugins are not supported); default: $KUBECONFIG, else in-cluster",
    )
    .option("--kube-server <url>", "Kubernetes API server, instead of a kubeconfig or in-cluster")
    .option("--kube-token-file <file>", "bearer token file for --kube-server")
    .option("--kube-ca-file <file>", "CA of --kube-server (PEM)");
}

/** --log-level and --json-log. */
export function logOptions(c: Command): Command {
  return c
    .addOption(new Option("--log-level <level>", "log level").choices(LOG_LEVELS).default("info"))
    .option("--json-log", "JSON log lines", false);
}
