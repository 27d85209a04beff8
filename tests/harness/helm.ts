/** helm (built by scripts/peers/build-helm.sh) with its cache, config and data under `dir`, so
 * a test never reads or writes the machine's own helm folders. */
import { peerBinary } from "./process.ts";

export async function runHelm(
  dir: string,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(peerBinary("helm"), {
    args,
    stdout: "piped",
    stderr: "piped",
    env: {
      HELM_CACHE_HOME: `${dir}/helm`,
      HELM_CONFIG_HOME: `${dir}/helm`,
      HELM_DATA_HOME: `${dir}/helm`,
    },
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}
