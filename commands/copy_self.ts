import { Command } from "commander";

/** `secrets-store copy-self <dir>`: puts the executable into a shared volume. */
export function copySelfCommand(): Command {
  return new Command("copy-self")
    .description(
      "copy this executable, its dynamic loader and libraries into <dir>, so it starts in any image",
    )
    .argument("<dir>", "target directory, usually the shared emptyDir /run/secrets-store")
    .option(
      "--mounted-at <path>",
      "where <dir> is seen when the injector runs, if not at <dir> (the image's prepared tree)",
    )
    .action(async (dir: string, o: { mountedAt?: string }) => {
      const { copySelf } = await import("../lib/copy/copy_self.ts");
      const started = performance.now();
      const r = copySelf(dir, undefined, o.mountedAt);
      console.error(
        `copy-self: ${r.written.length} file(s), ${
          (r.bytes / 1048576).toFixed(1)
        } MiB written to ${dir} in ${Math.round(performance.now() - started)} ms`,
      );
    });
}
