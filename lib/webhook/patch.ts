/** JSON Patch (RFC 6902) from the original Pod to the mutated one, at the granularity the
 * mutation works at: whole container, init container and volume lists, and the annotations. "add" on an existing
 * member replaces it, so the same op serves both cases. */
import type { Pod } from "../kube/pod.ts";

export interface PatchOp {
  op: "add";
  path: string;
  value: unknown;
}

/** The ops that turn `before` into `after`; empty when nothing changed. Lists are compared
 * item by item by identity: mutatePod copies only what it changes, and serializing both Pods
 * to compare them was a tenth of an admission's CPU time. */
export function podPatch(before: Pod, after: Pod): PatchOp[] {
  const ops: PatchOp[] = [];
  const annotations = after.metadata.annotations;
  if (annotations !== before.metadata.annotations && annotations) {
    // The whole map: a key holds "/", which a JSON pointer would have to escape.
    ops.push({ op: "add", path: "/metadata/annotations", value: annotations });
  }
  for (const field of ["initContainers", "containers", "volumes"] as const) {
    if (!sameItems(before.spec[field], after.spec[field])) {
      ops.push({ op: "add", path: `/spec/${field}`, value: after.spec[field] });
    }
  }
  return ops;
}

function sameItems(a: readonly unknown[] | undefined, b: readonly unknown[] | undefined) {
  if (a === b) return true;
  if (!a || !b || a.length !== b.length) return false;
  return a.every((item, i) => item === b[i]);
}
