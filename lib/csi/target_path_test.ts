import { assertEquals, assertStringIncludes, assertThrows } from "../../tests/harness/assert.ts";
import { CsiError } from "./errors.ts";
import { checkTarget, kubeletDir, recheckTarget } from "./target_path.ts";

const UID = "6f0b8c1e-2a4d-4c3e-9b7a-0d1e2f3a4b5c";

async function layout() {
  const root = await Deno.makeTempDir();
  const real = `${root}/real-kubelet`;
  await Deno.mkdir(`${real}/pods/${UID}/volumes/kubernetes.io~csi`, { recursive: true });
  await Deno.symlink(real, `${root}/kubelet`); // as some distributions ship it
  return { root, real, dir: kubeletDir(`${root}/kubelet/`) };
}

Deno.test("checkTarget() takes a Pod's volume folder, through a symlinked kubelet dir, onto its real path", async () => {
  const { root, real, dir } = await layout();
  const tail = `pods/${UID}/volumes/kubernetes.io~csi/secrets/mount`;
  assertEquals(dir.given, `${root}/kubelet`);
  assertEquals(checkTarget(dir, UID, `${root}/kubelet/${tail}`), `${dir.real}/${tail}`);
  assertEquals(checkTarget(dir, UID, `${real}/${tail}`), `${dir.real}/${tail}`);
  await Deno.remove(root, { recursive: true });
});

Deno.test("checkTarget() refuses dots, empty segments, other folders, other Pods and symlinks", async () => {
  const { root, real, dir } = await layout();
  const pod = `${root}/kubelet/pods/${UID}`;
  await Deno.mkdir(`${root}/outside`);
  await Deno.symlink(`${root}/outside`, `${real}/pods/${UID}/volumes/kubernetes.io~csi/link`);
  await Deno.writeTextFile(`${real}/pods/${UID}/volumes/file`, "");
  const cases: Array<[string, string]> = [
    ["relative/mount", "absolute"],
    [`${pod}/volumes/../../x/mount`, '".."'],
    [`${pod}/./volumes/mount`, '".."'],
    [`${pod}//volumes/mount`, "empty"],
    [`${pod}/volumes/mount/`, "empty"],
    [`${root}/outside/mount`, "kubelet folder"],
    [`${root}/kubeletx/pods/${UID}/mount`, "kubelet folder"],
    [`${root}/kubelet/pods/another-uid/volumes/mount`, "folder of the Pod"],
    [`${root}/kubelet/plugins/state/mount`, "folder of the Pod"],
    [`${pod}`, "folder of the Pod"],
    [`${pod}/volumes/kubernetes.io~csi/link/mount`, "symlink"],
    [`${pod}/volumes/file/mount`, "not a folder"],
    [`${pod}/volumes/a\nb`, "control"],
  ];
  for (const [target, words] of cases) {
    const e = assertThrows(() => checkTarget(dir, UID, target), CsiError);
    assertEquals(e.code, 3, target);
    assertStringIncludes(e.message, "target_path", target);
    assertStringIncludes(e.message, words, e.message);
  }
  await Deno.remove(root, { recursive: true });
});

Deno.test("recheckTarget() refuses a symlink put in place after the first check", async () => {
  const { root, real, dir } = await layout();
  const target = `${root}/kubelet/pods/${UID}/volumes/kubernetes.io~csi/secrets/mount`;
  const resolved = checkTarget(dir, UID, target);
  await Deno.mkdir(`${root}/outside/mount`, { recursive: true });
  await Deno.symlink(`${root}/outside`, `${real}/pods/${UID}/volumes/kubernetes.io~csi/secrets`);
  const e = assertThrows(() => recheckTarget(dir, resolved, target), CsiError);
  assertStringIncludes(e.message, "symlink");
  await Deno.remove(root, { recursive: true });
});
