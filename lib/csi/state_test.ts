import { assert, assertEquals, assertStringIncludes } from "../../tests/harness/assert.ts";
import { SsiSpec } from "./ssi.ts";
import { loadStates, removeState, saveState, type VolumeState } from "./state.ts";

function state(volumeId: string): VolumeState {
  return {
    volumeId,
    targetPath: `/var/lib/kubelet/pods/uid/volumes/kubernetes.io~csi/secrets/mount`,
    sourceDir: `/var/lib/secrets-store/mounts/${volumeId.length}`,
    pod: { namespace: "myapp-namespace", name: "myapp3", uid: "uid", serviceAccount: "myapp-sa" },
    ssiName: "myapp-ssi",
    spec: SsiSpec.parse({
      type: "CSI",
      role: "myapp-role",
      files: [{
        name: "db-password",
        source: { path: "demo-kv/data/myapp-secret", key: "DB_PASS" },
      }],
    }),
  };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = Deno.makeTempDirSync();
  try {
    await fn(`${dir}/volumes`);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

const byId = (a: VolumeState, b: VolumeState) => a.volumeId.localeCompare(b.volumeId);

Deno.test("saveState() and loadStates() keep each volume apart, ids that a sanitiser would merge included", async () => {
  await withDir(async (dir) => {
    const ids = ["x:1", "x_1", "X:1", "../escape", "a/b", "é", "x".repeat(128)];
    for (const id of ids) await saveState(dir, state(id));
    await saveState(dir, { ...state("x:1"), pending: true }); // saved again: replaced, not added
    const loaded = (await loadStates(dir, () => {})).sort(byId);
    assertEquals(
      loaded,
      ids.map((id) => id === "x:1" ? { ...state(id), pending: true } : state(id)).sort(byId),
    );
    assertEquals([...Deno.readDirSync(dir)].length, ids.length, "one file per volume, all inside");
    const mode = Deno.statSync(dir).mode! & 0o777;
    assertEquals(mode, 0o700);
  });
});

Deno.test("removeState() removes only that volume's file, and an unknown id is no error", async () => {
  await withDir(async (dir) => {
    await saveState(dir, state("x:1"));
    await saveState(dir, state("x_1"));
    await removeState(dir, "x:1");
    await removeState(dir, "never-saved");
    assertEquals((await loadStates(dir, () => {})).map((s) => s.volumeId), ["x_1"]);
  });
});

Deno.test("loadStates() skips unreadable files, naming each, and ignores a half-written .tmp", async () => {
  await withDir(async (dir) => {
    await saveState(dir, state("good"));
    Deno.writeTextFileSync(`${dir}/truncated.json`, JSON.stringify(state("cut")).slice(0, 40));
    Deno.writeTextFileSync(`${dir}/wrong.json`, JSON.stringify({ ...state("w"), spec: {} }));
    Deno.writeTextFileSync(`${dir}/half.json.tmp`, "{");
    Deno.mkdirSync(`${dir}/folder.json`);
    const bad: string[] = [];
    const loaded = await loadStates(dir, (file, why) => bad.push(`${file}: ${why}`));
    assertEquals(loaded.map((s) => s.volumeId), ["good"]);
    assertEquals(bad.length, 2, bad.join("\n"));
    assertStringIncludes(bad.sort()[0]!, `${dir}/truncated.json`);
    assertStringIncludes(bad[1]!, `${dir}/wrong.json`);
  });
});

Deno.test("loadStates() of a state folder that does not exist yet is empty", async () => {
  await withDir(async (dir) => {
    assertEquals(await loadStates(dir, () => assert(false, "nothing to report")), []);
  });
});
