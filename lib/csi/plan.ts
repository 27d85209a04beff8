/** The files of a volume, from the SecretsStoreImport and the secrets read for it: a pure
 * function, so every rule (keys, base64, names) is a table test. */
import { refName } from "../template/template.ts";
import { readKey } from "../config/store_path.ts";
import { type Secret, secretValue } from "../vault/client.ts";
import type { VolumeFile } from "./files.ts";
import type { SsiFileSpec } from "./ssi.ts";
import { decodeBase64Strict } from "../sys/base64.ts";

/** A file that cannot be produced; the message names the resource, file, path and key. */
export class FilePlanError extends Error {
  override name = "FilePlanError";
}

/** Builds every file, or throws for the first one that cannot be produced. */
export function planFiles(
  ssiName: string,
  files: SsiFileSpec[],
  secrets: Map<string, Secret>,
  address: string,
): VolumeFile[] {
  return files.map((f) => {
    const where = `SecretsStoreImport ${ssiName}, file "${f.name}" (${refName({ ...f.source })})`;
    const secret = secrets.get(readKey(f.source.path, f.source.version));
    if (!secret) throw new FilePlanError(`${where}: the secret was not read`);
    let value: string;
    try {
      value = secretValue(secret, f.source.key, address);
    } catch {
      throw new FilePlanError(`${where}: key "${f.source.key}" not found in ${f.source.path}`);
    }
    if (!f.decodeBase64) return { name: f.name, bytes: new TextEncoder().encode(value) };
    const bytes = decodeBase64Strict(value);
    if (!bytes) {
      throw new FilePlanError(`${where}: decodeBase64 is set, but the value is not valid base64`);
    }
    return { name: f.name, bytes };
  });
}
