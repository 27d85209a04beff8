/** JSON Patch (RFC 6902) from the original Pod to the mutated one, at the granularity the
 * mutation works at: whole container, init container and volume lists. "add" on an existing
 * member replaces it, so the same op serves both cases. */
import type { Pod } from "../kube/pod.ts";

export interface PatchOp {
  op: "add";
  path: string;
  value: unknown;
}

/** The ops that turn `before` into `after`; empty when nothing changed. */
export function podPatch(before: Pod, after: Pod): PatchOp[] {
  const ops: PatchOp[] = [];
  for (const field of ["initContainers", "containers", "volumes"] as const) {
    if (JSON.stringify(before.spec[field]) !== JSON.stringify(after.spec[field])) {
      ops.push({ op: "add", path: `/spec/${field}`, value: after.spec[field] });
    }
  }
  return ops;
}
