/** What the driver remembers about each published volume across restarts: where it is, whose
 * it is and what it holds, never a secret value or a token. One JSON file per volume. */
import { z } from "zod";
import { SsiSpec } from "./ssi.ts";
import { sha256Hex } from "./volume_id.ts";

export const VolumeStateSchema = z.object({
  volumeId: z.string(),
  targetPath: z.string(),
  sourceDir: z.string(),
  pod: z.object({
    namespace: z.string(),
    name: z.string(),
    uid: z.string(),
    serviceAccount: z.string(),
  }),
  ssiName: z.string(),
  spec: SsiSpec,
  gid: z.number().int().optional(),
  /** Written before the first mount and cleared once the publish is complete: a crash in
   * between leaves a state that start-up recognises as half-done, and removes. */
  pending: z.boolean().optional(),
});

export type VolumeState = z.infer<typeof VolumeStateSchema>;

/** File name for a volume id: ids come from the kubelet and may hold any character. Half
 * of a SHA-256, as the first version named them, so an upgrade still finds their files. */
async function fileFor(dir: string, volumeId: string): Promise<string> {
  return `${dir}/${(await sha256Hex(volumeId)).slice(0, 32)}.json`;
}

export async function saveState(dir: string, s: VolumeState): Promise<void> {
  await Deno.mkdir(dir, { recursive: true, mode: 0o700 });
  const file = await fileFor(dir, s.volumeId);
  await Deno.writeTextFile(`${file}.tmp`, JSON.stringify(s), { mode: 0o600 });
  await Deno.rename(`${file}.tmp`, file);
}

export async function removeState(dir: string, volumeId: string): Promise<void> {
  await Deno.remove(await fileFor(dir, volumeId)).catch(() => {});
}

/** Every readable state file; unreadable ones are reported through `bad` and skipped. */
export async function loadStates(
  dir: string,
  bad: (file: string, why: string) => void,
): Promise<VolumeState[]> {
  const out: VolumeState[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (!e.isFile || !e.name.endsWith(".json")) continue;
      try {
        out.push(VolumeStateSchema.parse(JSON.parse(await Deno.readTextFile(`${dir}/${e.name}`))));
      } catch (err) {
        bad(`${dir}/${e.name}`, (err as Error).message);
      }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return out;
}
