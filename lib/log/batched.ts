/** Log lines gathered and written to stderr once per turn of the event loop instead of one
 * write each: at thousands of admissions a second, a write per line was an eighth of the
 * webhook's CPU time. For long-running servers only: a process that exits or execs right
 * after logging must write synchronously (the default of createLogger). */

const encoder = new TextEncoder();

export interface BatchedWriter {
  write(line: string): void;
  /** Writes what is pending now; call before stopping. */
  flush(): void;
}

/** A writer for createLogger's `write` option. `sink` is for tests; stderr by default. */
export function batchedStderr(
  sink: (bytes: Uint8Array) => number = (b) => Deno.stderr.writeSync(b),
): BatchedWriter {
  let pending: string[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending.length === 0) return;
    const bytes = encoder.encode(pending.join("\n") + "\n");
    pending = [];
    for (let off = 0; off < bytes.length;) off += sink(bytes.subarray(off));
  };
  // A normal exit still writes the last lines.
  globalThis.addEventListener("unload", flush);
  return {
    write(line) {
      pending.push(line);
      if (scheduled) return;
      scheduled = true;
      setTimeout(flush, 0);
    },
    flush,
  };
}
