/** Volume ids: opaque strings from the kubelet (or anyone on the socket), mapped to the
 * folder of each volume's tmpfs by a full SHA-256, so two ids never share a folder
 * (`x:1` and `x_1` did under the old character replacement) and no id names a path. */
import { invalid } from "./errors.ts";

/** The CSI specification's limit for string fields. */
const MAX_BYTES = 128;

/** Refuses ids that are empty, over 128 bytes, `.`/`..` or hold control characters: none
 * comes from the kubelet (`csi-<hex>`), and each has been a way out of a folder elsewhere. */
export function checkVolumeId(id: string): string {
  if (!id) throw invalid("volume_id is required");
  const bytes = new TextEncoder().encode(id).length;
  if (bytes > MAX_BYTES) {
    throw invalid(`volume_id must be at most ${MAX_BYTES} bytes (this one has ${bytes})`);
  }
  // deno-lint-ignore no-control-regex
  if (id === "." || id === ".." || /[\x00-\x1f\x7f]/.test(id)) {
    throw invalid(`volume_id ${JSON.stringify(id)} is not a volume id`);
  }
  return id;
}

/** The folder name of a volume: the id's SHA-256 in hex. */
export function volumeFolder(id: string): Promise<string> {
  return sha256Hex(id);
}

/** SHA-256 of `text` (UTF-8), in hex. */
export async function sha256Hex(text: string): Promise<string> {
  const hash = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(hash), (b) => b.toString(16).padStart(2, "0")).join("");
}
