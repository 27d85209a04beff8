/** What `secrets-store inject` does once its command line is parsed, shared by commander's
 * action (inject.ts) and the fast path for `inject -- <command…>` (cli.ts). */
import { seeDocs } from "../lib/troubleshooting.ts";
import { warmTlsRandom } from "../lib/http/tls_warmup.ts";
import { willUseStoreTls } from "../lib/inject/store_tls.ts";

export interface InjectFlags {
  storeFile?: string | undefined;
  dryRun?: boolean | undefined;
  probe?: boolean | undefined;
}

/** Resolves the secrets and execs `command`; returns only for a dry run. */
export async function injectAction(command: string[], opts: InjectFlags): Promise<void> {
  const env = Deno.env.toObject();
  // Started before the injector's modules load, so the runtime's one-time TLS set-up runs
  // beside them (lib/http/tls_warmup.ts). Not for a store file, nor for a probe, which mostly
  // takes the app's values and asks no store.
  if (!opts.storeFile && !opts.probe && willUseStoreTls(env)) void warmTlsRandom();
  // Loaded on use: the injector starts in every container and probe, so each role loads
  // only its own modules.
  const { inject } = await import("../lib/inject/inject.ts");
  try {
    await inject({
      command,
      env,
      storeFile: opts.storeFile,
      dryRun: opts.dryRun,
      probe: opts.probe,
    });
  } catch (e) {
    // What the container's log shows last: where it is explained. The error keeps its class
    // and exit code.
    if (e instanceof Error) e.message += seeDocs("injector");
    throw e;
  }
}
