/** Log lines gathered and written to stderr once per turn of the event loop instead of one
 * write each: at thousands of admissions a second, a write per line was an eighth of the
 * webhook's CPU time. For long-running servers only: a process that exits or execs right
 * after logging must write synchronously (the default of createLogger). */

const encoder = new TextEncoder();

/** Lines are encoded into one buffer kept for the process's life: a new byte array per write
 * counts as V8 external memory, and at thousands a second that alone set off the full
 * collections that stalled every request in flight (AnswerWriter in webhook/http1.ts). */
const BUFFER_BYTES = 64 * 1024;

export interface BatchedWriter {
  write(line: string): void;
  /** Writes what is pending now; call before stopping. */
  flush(): void;
}

/** A writer for createLogger's `write` option. `sink` is for tests; stderr by default. */
export function batchedStderr(
  sink: (bytes: Uint8Array) => number = (b) => Deno.stderr.writeSync(b),
): BatchedWriter {
  const buf = new Uint8Array(BUFFER_BYTES);
  let pending = "";
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    // A longer text goes out a buffer at a time; encodeInto never splits a character.
    while (pending.length > 0) {
      const { read, written } = encoder.encodeInto(pending, buf);
      pending = pending.slice(read);
      for (let off = 0; off < written;) off += sink(buf.subarray(off, written));
    }
  };
  // A normal exit still writes the last lines.
  globalThis.addEventListener("unload", flush);
  return {
    write(line) {
      pending += line + "\n";
      if (scheduled) return;
      scheduled = true;
      setTimeout(flush, 0);
    },
    flush,
  };
}
