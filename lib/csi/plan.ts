/** The files of a volume, from the SecretsStoreImport and the secrets read for it: a pure
 * function, so every rule (keys, base64, whole secrets, templates, modes) is a table test. */
import { refName } from "../template/template.ts";
import { depthOf, toYaml, type Value } from "../template/render_value.ts";
import { DEFAULT_LIMITS } from "../template/engine.ts";
import { TemplateError } from "../template/error.ts";
import { readKey } from "../config/store_path.ts";
import { type Secret, secretValue } from "../vault/client.ts";
import type { VolumeFile } from "./files.ts";
import { modeOf, type SsiFileSpec, templateOf } from "./ssi.ts";
import { decodeBase64Strict } from "../sys/base64_decode.ts";

/** A file that cannot be produced; the message names the resource, file, path and key. */
export class FilePlanError extends Error {
  override name = "FilePlanError";
}

const utf8 = new TextEncoder();

/** Builds every file, or throws for the first one that cannot be produced. */
export function planFiles(
  ssiName: string,
  files: SsiFileSpec[],
  secrets: Map<string, Secret>,
  address: string,
): VolumeFile[] {
  return files.map((f) => {
    const bytes = fileBytes(ssiName, f, secrets, address);
    const mode = modeOf(f);
    return mode === undefined ? { name: f.name, bytes } : { name: f.name, bytes, mode };
  });
}

function fileBytes(
  ssiName: string,
  f: SsiFileSpec,
  secrets: Map<string, Secret>,
  address: string,
): Uint8Array {
  if (!f.source) return templated(ssiName, f, secrets);
  const source = f.source;
  const where = `SecretsStoreImport ${ssiName}, file "${f.name}" (${
    source.key === undefined ? source.path : refName({ ...source, key: source.key })
  })`;
  const secret = secrets.get(readKey(source.path, source.version));
  if (!secret) throw new FilePlanError(`${where}: the secret was not read`);
  if (source.key === undefined) return wholeSecret(where, f.format ?? "json", secret);
  let value: string;
  try {
    value = secretValue(secret, source.key, address);
  } catch {
    throw new FilePlanError(`${where}: key "${source.key}" not found in ${source.path}`);
  }
  if (!f.decodeBase64) return utf8.encode(value);
  const bytes = decodeBase64Strict(value);
  if (!bytes) {
    throw new FilePlanError(`${where}: decodeBase64 is set, but the value is not valid base64`);
  }
  return bytes;
}

/** Every key of the secret, as an indented JSON object or a YAML map, ending in a newline. */
function wholeSecret(where: string, format: "json" | "yaml", secret: Secret): Uint8Array {
  const data = secret.data as Value;
  if (depthOf(data, DEFAULT_LIMITS.maxDepth) > DEFAULT_LIMITS.maxDepth) {
    throw new FilePlanError(
      `${where}: the secret is nested deeper than ${DEFAULT_LIMITS.maxDepth} levels`,
    );
  }
  return utf8.encode(format === "json" ? JSON.stringify(data, null, 2) + "\n" : toYaml(data));
}

/** The file's template rendered over its sources, each under its name: `${.db.password}`. */
function templated(ssiName: string, f: SsiFileSpec, secrets: Map<string, Secret>): Uint8Array {
  const data: Record<string, Value> = {};
  for (const [name, s] of Object.entries(f.sources ?? {})) {
    const secret = secrets.get(readKey(s.path, s.version));
    if (!secret) {
      throw new FilePlanError(
        `SecretsStoreImport ${ssiName}, file "${f.name}": source "${name}" (${s.path}) was not read`,
      );
    }
    data[name] = secret.data as Value;
  }
  try {
    return utf8.encode(templateOf(f).render(data));
  } catch (e) {
    if (e instanceof TemplateError) {
      throw new FilePlanError(`SecretsStoreImport ${ssiName}, ${e.message}`);
    }
    throw e;
  }
}
