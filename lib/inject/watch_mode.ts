/** `restart-on-secret-change` in the injector: the app runs as a supervised child
 * (supervise.ts) while the values it was started with are polled (watch.ts) through one
 * kept login (session.ts), which keeps the leases of dynamic secrets renewed (leases.ts); a
 * confirmed change or a lease that ends restarts the app. */
import type { Logger } from "../log/logger.ts";
import type { PathImport } from "../template/env_from_path.ts";
import { type Resolution, resolveEnv, watchedEnv } from "./resolve.ts";
import type { SecretSource } from "./source.ts";
import { revokeLeases, revokeQuietly } from "./store_source.ts";
import { supervise } from "./supervise.ts";
import { hashEnv, startWatch } from "./watch.ts";
import { collectGarbage } from "../sys/gc.ts";

export interface WatchedApp {
  path: string;
  argv: string[];
  /** What the app is started with (after fitForExec). */
  env: Record<string, string>;
  /** The app's environment before resolution, resolved again at each poll. */
  templates: Record<string, string>;
  resolution: Resolution;
  source: SecretSource;
  envFromPath: PathImport[];
  ignoreMissing: boolean;
  intervalMs: number;
  clientTimeoutMs: number;
  terminationLog: string;
  /** Revoke the kept login's token once the app has ended. */
  revokeToken: boolean;
  /** secrets-store:login allowed: polls take the token again, and a new one is a change. */
  allowLoginToken: boolean;
  logger: Logger;
}

/** Runs the app until it ends; resolves to the injector's exit code. */
export async function runWatched(a: WatchedApp): Promise<number> {
  // Values of writes are left out: they are sent once, at start, and never polled.
  const initialHash = await hashEnv(watchedEnv(a.resolution));
  // The supervisor idles for the container's life: what start-up grew (modules compiled,
  // answers parsed) is handed back once, and what each poll grew after it.
  collectGarbage();
  a.logger.info("watching the secrets for changes", {
    interval_ms: a.intervalMs,
    reads_per_poll: a.resolution.reads,
  });
  const leases = a.source.leases;
  // A lease that ends restarts the app; it is not revoked then (it is ending anyway), and
  // neither are the others, which the kept token's revocation takes with it when it is on.
  let leaseEnded = false;
  try {
    return await supervise({
      path: a.path,
      argv: a.argv,
      env: a.env,
      logger: a.logger,
      terminationLog: a.terminationLog,
      watch: (restart) => {
        leases?.onEnd((end) => {
          leaseEnded = true;
          a.logger.info("a dynamic secret's lease ends: the app is restarted", {
            path: end.path,
            reason: end.reason,
          });
          restart();
        });
        return startWatch({
          intervalMs: a.intervalMs,
          initialHash,
          logger: a.logger,
          onChange: restart,
          poll: async () => {
            const r = await resolveEnv(a.templates, a.source, {
              envFromPath: a.envFromPath,
              ignoreMissing: true,
              signal: AbortSignal.timeout(a.clientTimeoutMs),
              logger: a.logger,
              run: "poll",
              allowLoginToken: a.allowLoginToken,
            });
            // Any failed read makes the poll fail: a value that could not be read is no
            // confirmed change (under ignore-missing-secrets it would look like one).
            const failed = r.assignments.find((x) => x.status === "failed");
            if (failed) throw new Error(`${failed.variable}: ${failed.reason}`);
            const hash = await hashEnv(watchedEnv(r));
            collectGarbage();
            return hash;
          },
        });
      },
    });
  } finally {
    // The leases first: revoking the token takes their requests' credentials with it.
    if (leaseEnded) leases?.stop();
    else await revokeLeases(a.source, a.clientTimeoutMs);
    if (a.revokeToken) await revokeQuietly(a.source, a.logger, a.clientTimeoutMs);
    a.source.close();
  }
}
