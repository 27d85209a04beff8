/** A full garbage collection on demand. V8 sizes its heap for throughput and keeps what it
 * grew during a burst (the CSI driver's rotation sweep: tens of MiB of young generation
 * reserved for a 30 MiB live heap); a collection after the burst hands that back. Runtime
 * V8 flags cannot do it (heap sizes are fixed at start, and a compiled executable ignores
 * DENO_V8_FLAGS), so `gc` is exposed the way Node.js programs do it. */
import v8 from "node:v8";
import vm from "node:vm";

let gc: (() => void) | undefined;

/** Runs a full collection; false when this runtime does not allow it. */
export function collectGarbage(): boolean {
  if (!gc) {
    v8.setFlagsFromString("--expose-gc");
    gc = vm.runInNewContext("gc") as (() => void) | undefined;
  }
  if (typeof gc !== "function") return false;
  gc();
  return true;
}
