/** Target paths: where NodePublishVolume mounts. The kubelet only ever asks for
 * `<kubelet-dir>/pods/<pod uid>/volumes/kubernetes.io~csi/<volume>/mount`; anything else
 * (a `..` segment, a folder outside the kubelet's, another Pod's folder, a path through a
 * symlink) came from someone else on the socket and would mount secrets, or a tmpfs, over a
 * place of their choosing. */
import { invalid } from "./errors.ts";

/** The kubelet folder as configured (the paths the kubelet sends start with it) and as
 * resolved once at start (some distributions make it a symlink to another disk). */
export interface KubeletDir {
  given: string;
  real: string;
}

/** Resolves `--kubelet-dir` once; throws TypeError when it is not an absolute folder. */
export function kubeletDir(given: string): KubeletDir {
  const trimmed = given.replace(/\/+$/, "");
  if (!trimmed.startsWith("/")) {
    throw new TypeError(`--kubelet-dir must be an absolute path, got ${JSON.stringify(given)}`);
  }
  let real: string;
  try {
    real = Deno.realPathSync(trimmed);
  } catch (e) {
    throw new TypeError(`Cannot resolve --kubelet-dir ${trimmed}: ${(e as Error).message}`);
  }
  if (!Deno.statSync(real).isDirectory) {
    throw new TypeError(`--kubelet-dir ${trimmed} is not a folder`);
  }
  return { given: trimmed, real };
}

/** Checks `target` for the Pod `podUid` and returns it on the resolved kubelet folder, where
 * every existing component has been checked not to be a symlink. INVALID_ARGUMENT naming the
 * path and the rule it breaks. */
export function checkTarget(dir: KubeletDir, podUid: string, target: string): string {
  const bad = (why: string) => invalid(`target_path ${JSON.stringify(target)} ${why}`);
  if (!target.startsWith("/")) throw bad("must be an absolute path");
  const segments = target.slice(1).split("/");
  if (segments.some((s) => s === "" || s === "." || s === "..")) {
    throw bad('must not hold ".", ".." or empty segments');
  }
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f]/.test(target)) throw bad("must not hold control characters");
  const root = [dir.given, dir.real].find((r) => target.startsWith(r + "/"));
  if (root === undefined) {
    throw bad(`is not inside the kubelet folder ${dir.given}/ (--kubelet-dir)`);
  }
  const below = target.slice(root.length + 1).split("/");
  if (below[0] !== "pods" || below[1] !== podUid || below.length < 3) {
    throw bad(`is not inside the folder of the Pod (${dir.given}/pods/${podUid}/)`);
  }
  walk(dir.real, below, false, target);
  return `${dir.real}/${below.join("/")}`;
}

/** Right before mounting, once the target folder is made: the whole `resolved` path (from
 * checkTarget) again, every component a folder and none a symlink. */
export function recheckTarget(dir: KubeletDir, resolved: string, shown: string): void {
  walk(dir.real, resolved.slice(dir.real.length + 1).split("/"), true, shown);
}

/** Walks `below` from `root` with lstat: a symlink, or anything but a folder, is refused;
 * a missing component ends the walk unless `complete`. */
function walk(root: string, below: string[], complete: boolean, shown: string): void {
  let path = root;
  for (const s of below) {
    path += `/${s}`;
    let info: Deno.FileInfo;
    try {
      info = Deno.lstatSync(path);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound && !complete) return;
      throw invalid(
        `target_path ${JSON.stringify(shown)}: cannot check ${path}: ${(e as Error).message}`,
      );
    }
    if (info.isSymlink) {
      throw invalid(`target_path ${JSON.stringify(shown)} goes through a symlink at ${path}`);
    }
    if (!info.isDirectory) {
      throw invalid(`target_path ${JSON.stringify(shown)}: ${path} is not a folder`);
    }
  }
}
