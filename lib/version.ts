/** The product version, read from deno.json so there is one place to bump it. */
import meta from "../deno.json" with { type: "json" };

export const VERSION: string = meta.version;

/** One line for `secrets-store version` and log start-up lines. */
export function versionLine(): string {
  return `secrets-store ${VERSION} (deno ${Deno.version.deno}, ${Deno.build.os}/${Deno.build.arch})`;
}
