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
