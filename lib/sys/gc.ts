/** A full garbage collection on demand. V8 sizes its heap for throughput and keeps what it
 * grew during a burst (the CSI driver's rotation sweep reserves young generation several
 * times its live heap; docs/benchmarks.md); a collection after the burst hands that back. Runtime
 * V8 flags cannot size the heap (sizes are fixed at start, and a compiled executable ignores
 * DENO_V8_FLAGS). The compiled executable is built with --expose-gc (scripts/compile.sh);
 * under `deno run` the flag is set now and `gc` fetched the way Node.js programs do it. */
import v8 from "node:v8";
import vm from "node:vm";

let gc: (() => void) | undefined;
let looked = false;

/** Runs a full collection; false when this runtime does not allow it. */
export function collectGarbage(): boolean {
  if (!looked) {
    looked = true;
    gc = exposedGc();
  }
  if (!gc) return false;
  gc();
  return true;
}

function exposedGc(): (() => void) | undefined {
  const global = (globalThis as { gc?: unknown }).gc;
  if (typeof global === "function") return global as () => void;
  try {
    v8.setFlagsFromString("--expose-gc");
    // `typeof` first: where the flag comes too late to expose gc (a compiled Deno 2.5-2.7),
    // a bare `gc` throws ReferenceError instead of giving undefined.
    const found = vm.runInNewContext("typeof gc === 'function' ? gc : undefined");
    return typeof found === "function" ? found as () => void : undefined;
  } catch {
    return undefined;
  }
}
