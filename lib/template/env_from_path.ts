/** The `env-from-path` list: comma-separated store paths, each optionally `path#N` for
 * version N of a KV v2 secret. Parsed with the same rules by the webhook (the annotation, at
 * admission) and by the injector (SECRETS_STORE_ENV_FROM_PATH). */
import { parseStorePath, quote, type StorePath } from "../config/store_path.ts";
import { parseVersion } from "./template.ts";

/** One entry: every key of this path (at this version) becomes a variable. */
export interface PathImport {
  path: StorePath;
  version?: number | undefined;
}

/** Parses the list; empty entries (a trailing comma) are skipped. Throws a TypeError naming
 * the entry and its problem, so the caller adds only the variable or annotation. */
export function parseEnvFromPath(value: string): PathImport[] {
  const out: PathImport[] = [];
  for (const entry of value.split(",").map((e) => e.trim())) {
    if (entry === "") continue;
    const [rawPath, version, ...more] = entry.split("#") as [string, string?, ...string[]];
    const where = `entry ${quote(entry)}`;
    if (more.length > 0) {
      throw new TypeError(
        `${where} has ${more.length + 1} "#", expected <path> or <path>#<version>`,
      );
    }
    let path: StorePath;
    try {
      path = parseStorePath(rawPath);
    } catch (e) {
      throw new TypeError(`${where}: ${(e as Error).message}`);
    }
    if (version === undefined) {
      out.push({ path });
      continue;
    }
    const n = parseVersion(version);
    if (n === undefined) {
      throw new TypeError(
        `${where} has version ${quote(version)}, expected a positive whole number`,
      );
    }
    out.push({ path, version: n });
  }
  return out;
}
