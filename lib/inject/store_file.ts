/** A local file laid out like the store, so developers can check template resolution
 * without a server:
 *
 *   demo-kv/data/myapp-secret:      # latest version of a path
 *     DB_USER: username
 *     DB_PASS: secret-password
 *   demo-kv/data/myapp-secret#4:    # version 4 of the same path
 *     DB_PASS: older-password
 *
 * YAML or JSON (JSON is YAML). */
import { z } from "zod";
import { StoreError } from "../vault/errors.ts";
import type { SecretSource } from "./source.ts";

const FileSchema = z.record(z.string().min(1), z.record(z.string(), z.unknown()));

/** Loads `file`; throws a TypeError naming the file and what is wrong with it. */
export async function storeFileSource(file: string): Promise<SecretSource> {
  // Loaded on use: only local development reads store files.
  const { parse } = await import("yaml");
  let raw: unknown;
  try {
    raw = parse(await Deno.readTextFile(file));
  } catch (e) {
    throw new TypeError(`Cannot read store file ${file}: ${(e as Error).message}`);
  }
  const r = FileSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new TypeError(
      `Cannot read store file ${file}: at "${
        i.path.join(".")
      }": expected a map of path to a map of keys (${i.message})`,
    );
  }
  const secrets = r.data;
  const name = `file://${file}`;
  return {
    name,
    read(path, version) {
      const id = version === undefined ? path : `${path}#${version}`;
      const data = secrets[id];
      if (!data) {
        return Promise.reject(
          new StoreError("not_found", `no entry "${id}" in the store file`, {
            address: name,
            operation: "read",
            path,
            version,
          }),
        );
      }
      return Promise.resolve({ path, version, kv: 2, data });
    },
    close() {},
  };
}
