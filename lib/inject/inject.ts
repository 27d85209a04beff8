/** `inject`: settings from the environment, secrets from the store, then execve. */
import { createLogger, type Logger } from "../log/logger.ts";
import { execve, lookPath } from "./exec.ts";
import { type ExecState, planProcessLimits } from "./process_state.ts";
import { argMax } from "../sys/libc.ts";
import { fitForExec } from "./exec_size.ts";
import { reportLines } from "./report.ts";
import { appValuesForProbe } from "./probe_source.ts";
import { describeRef, needsStore, type Resolution, resolveEnv } from "./resolve.ts";
import { readSettings, withoutSettings } from "./settings.ts";
import type { SecretSource } from "./source.ts";
import { revokeLeases, revokeQuietly, storeSource } from "./store_source.ts";
import { RequestTally } from "../vault/requests.ts";
import { AppExit } from "../cli/errors.ts";

export interface InjectOptions {
  /** The app's command and arguments. */
  command: string[];
  /** The process environment, settings included. */
  env: Record<string, string>;
  /** Local development: read secrets from this file instead of the store. */
  storeFile?: string | undefined;
  /** Print what would be resolved instead of starting the app. */
  dryRun?: boolean | undefined;
  /** A wrapped exec probe (`inject --probe`, written by mutate-probes): the app's own values
   * are taken from its process when they can be shown to be its (probe_env.ts), and the
   * probe command is always exec'd, whatever the restart mode. */
  probe?: boolean | undefined;
  print?: (line: string) => void;
  /** Replaced in unit tests only; the real one never returns. */
  exec?: (path: string, argv: string[], env: Record<string, string>, state: ExecState) => never;
}

/** Resolves and starts the app; returns only for a dry run, throws on failure. */
export async function inject(o: InjectOptions): Promise<Resolution> {
  const settings = readSettings(o.env);
  const log = createLogger({
    level: settings.logLevel,
    json: settings.jsonLog,
    base: { component: "inject" },
  });
  // Planned before any request, so a bad limit stops the injector before it logs in.
  const limits = o.dryRun ? { state: {} } : planProcessLimits(settings.launcherNofile);
  // Only `deno run` (development, the demo) gets here; the shipped executable never does, so
  // a line at info level for every development run would be noise.
  if (limits.warning) log.debug(limits.warning);
  const appEnv = withoutSettings(o.env);
  let resolution: Resolution = { env: appEnv, assignments: [], reads: 0 };
  // Watch modes keep the source (and its login) open for the app's life: runWatched closes it.
  let watched: SecretSource | undefined;
  let reportRequests = () => {};
  const fromApp = o.probe && !o.storeFile && needsStore(appEnv, settings.envFromPath)
    ? await appValuesForProbe(appEnv, settings.envFromPath, settings.procRoot, log)
    : undefined;
  if (fromApp) {
    resolution = { env: fromApp, assignments: [], reads: 0 };
  } else if (needsStore(appEnv, settings.envFromPath)) {
    const started = performance.now();
    // A probe run never supervises: it ends with its check, and a supervisor of its own
    // would cost a kept login for nothing to watch.
    const watch = settings.restartMode !== "none" && !o.dryRun && !o.probe;
    // Store files are for local development only, and watch modes are the exception: their
    // modules are loaded on use, so a plain run loads neither.
    // The injector cannot be scraped: what it asked the store is one log line at its end.
    const tally = o.storeFile ? undefined : new RequestTally();
    const source: SecretSource = o.storeFile
      ? await (await import("./store_file.ts")).storeFileSource(o.storeFile)
      : watch
      ? (await import("./session.ts")).keptLoginSource(settings, log, tally?.observe)
      : storeSource(settings, log, tally?.observe);
    reportRequests = () => {
      if (tally) log.info("store requests", tally.fields());
    };
    // A plain run needs its store token no more once the secrets are read: revoked, it does
    // not live on in the store for the role's TTL (one token per container start and probe
    // run). A dry run starts nothing and a store file has no token; the watch modes keep
    // theirs for the app's life and revoke it when the supervisor ends.
    const revoke = settings.revokeToken && !o.dryRun;
    // The app that got the token (secrets-store:login) uses it after execve: never revoked.
    const done = async (started: boolean, gaveToken = false) => {
      // A watch-mode start that failed: no app will use its dynamic secrets.
      if (!started) await revokeLeases(source, settings.clientTimeoutMs);
      if (started && gaveToken) {
        log.info("the store token is the app's now (secrets-store:login): it is not revoked");
      } else if (revoke && !(started && keepsTokenForLeases(source, log))) {
        await revokeQuietly(source, log, settings.clientTimeoutMs);
      }
      source.close();
      reportRequests();
    };
    try {
      resolution = await resolveEnv(appEnv, source, {
        envFromPath: settings.envFromPath,
        ignoreMissing: settings.ignoreMissing,
        signal: AbortSignal.timeout(settings.clientTimeoutMs),
        logger: log,
        run: o.dryRun ? "dry-run" : "start",
        allowLoginToken: settings.allowLoginToken,
      });
    } catch (e) {
      // A run that fails (a missing secret, in a crash loop) leaves no token behind either,
      // in the watch modes too (and the leases of what it read go with the token).
      await done(false);
      throw e;
    }
    log.info("secrets resolved", {
      source: source.name,
      variables: resolution.assignments.filter((a) => a.status === "ok").length,
      reads: resolution.reads,
      ...(resolution.writes ? { writes: resolution.writes } : {}),
      ms: Math.round(performance.now() - started),
    });
    if (o.probe && (resolution.writes || resolution.gaveToken)) {
      // Every run of a probe that falls back costs the store anew: say so where it is seen.
      log.warn(
        "this exec probe could not take the app's values: it sent its write references again and keeps a store token for its command",
        { writes: resolution.writes ?? 0, token: resolution.gaveToken ?? false },
      );
    }
    if (watch) watched = source;
    else await done(true, resolution.gaveToken);
  } else {
    log.debug("nothing to resolve, store not contacted");
  }
  if (o.dryRun) {
    const print = o.print ?? ((line: string) => console.log(line));
    for (const line of reportLines(resolution, o.command)) print(line);
    return resolution;
  }
  const path = lookPath(o.command[0]!, resolution.env);
  const fit = fitForExec(path, o.command, resolution.env, {
    secrets: new Map(
      resolution.assignments.filter((a) => a.status === "ok").map((
        a,
      ) => [a.variable, describeRef(a)]),
    ),
    ignoreMissing: settings.ignoreMissing,
    argMax: argMax(),
  });
  for (const d of fit.dropped) {
    log.warn("secret variable too large to start the app with, dropped (ignore-missing-secrets)", {
      variable: d.variable,
      ref: d.from,
      bytes: d.bytes,
      reason: d.why,
    });
  }
  log.debug("starting the app", { path });
  if (watched) {
    const { runWatched } = await import("./watch_mode.ts");
    const code = await runWatched({
      path,
      argv: o.command,
      env: fit.env,
      templates: appEnv,
      resolution,
      source: watched,
      envFromPath: settings.envFromPath,
      ignoreMissing: settings.ignoreMissing,
      intervalMs: settings.pollIntervalMs,
      clientTimeoutMs: settings.clientTimeoutMs,
      terminationLog: settings.terminationLog,
      revokeToken: settings.revokeToken,
      allowLoginToken: settings.allowLoginToken,
      logger: log,
    }).finally(reportRequests);
    if (code !== 0) throw new AppExit(code);
    return resolution;
  }
  return (o.exec ?? execve)(path, o.command, fit.env, limits.state);
}

/** The store revokes a token's leases with it, so a plain run whose reads returned a lease
 * (a dynamic secret) keeps its token: revoked, it would start the app with dead credentials.
 * The token and the leases then end at their TTLs. */
function keepsTokenForLeases(source: SecretSource, log: Logger): boolean {
  const paths = [...source.leasedPaths ?? []];
  if (paths.length === 0) return false;
  log.info(
    "the store token is kept, not revoked: the leases of dynamic secrets end with it, and they live their TTL",
    { paths: paths.join(",") },
  );
  return true;
}
