/** The probe path of `inject`: the app's values, or undefined for the store (probe_env.ts). */
import type { Logger } from "../log/logger.ts";
import type { PathImport } from "../template/env_from_path.ts";
import { probeValues } from "./probe_env.ts";

export async function appValuesForProbe(
  env: Record<string, string>,
  envFromPath: readonly PathImport[],
  procRoot: string,
  log: Logger,
): Promise<Record<string, string> | undefined> {
  const got = await probeValues(env, envFromPath, procRoot);
  if ("fallback" in got) {
    log.debug("probe: the store is asked, the app's values cannot be used", {
      reason: got.fallback,
    });
    return undefined;
  }
  log.debug("probe: the app's values are used, store not contacted", {
    variables: got.taken,
    from: got.from,
  });
  return got.env;
}
