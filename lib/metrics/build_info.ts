/** `secrets_store_build_info`: a gauge of 1 whose labels say what is running, so a query can
 * join any other series with the version that produced it (the `*_build_info` convention of
 * Kubernetes and Prometheus components). */
import { VERSION } from "../version.ts";
import { family } from "./exposition.ts";

export const BUILD_INFO = "secrets_store_build_info";

/** The build-info family of `role` (webhook or csi). */
export function buildInfo(role: string): string[] {
  return family(
    BUILD_INFO,
    "gauge",
    "Always 1; the labels name the version, the role and the Deno runtime it runs on.",
    [{
      labels: [
        ["version", VERSION],
        ["role", role],
        ["deno_version", Deno.version.deno],
        ["platform", `${Deno.build.os}/${Deno.build.arch}`],
      ],
      value: 1,
    }],
  );
}
