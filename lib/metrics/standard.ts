/** What every role's /metrics carries besides its own families: build info and the process. */
import { buildInfo } from "./build_info.ts";
import { processMetrics } from "./process.ts";
import type { MetricsRegistry } from "./registry.ts";

/** Adds the build-info and process families of `role` to `registry`. */
export function includeStandard(registry: MetricsRegistry, role: string): MetricsRegistry {
  const info = buildInfo(role);
  registry.include(() => info);
  registry.include(() => processMetrics());
  return registry;
}

/** The gauge both roles carry for the store's CA (lib/kube/stronghold_ca.ts). */
export const STORE_CA_KNOWN = {
  name: "secrets_store_store_ca_known",
  help:
    "1 while the store's CA is known; 0 while connectionConfiguration DiscoverLocalStronghold's Secret d8-stronghold/stronghold-tls (key ca.crt) could not be read, and workloads that need it are refused.",
} as const;
