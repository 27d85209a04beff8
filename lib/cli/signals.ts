/** Resolves on SIGTERM or SIGINT, so serving roles can shut down cleanly. */
export function untilSignal(): Promise<void> {
  return new Promise((resolve) => {
    Deno.addSignalListener("SIGTERM", () => resolve());
    Deno.addSignalListener("SIGINT", () => resolve());
  });
}
