/** The injector's own settings. The webhook writes them into the container as environment
 * variables (from annotations and installation defaults); the injector removes every one of
 * them before it starts the app. */
import { z } from "zod";
import { parseDuration } from "../config/duration.ts";
import { type LogLevel, parseLogLevel } from "../log/logger.ts";
import { RLIM_INFINITY } from "../sys/libc.ts";
import { parseCaPem } from "../vault/ca_pem.ts";
import { parseStoreAddress, type StoreAddress } from "../config/store_address.ts";
import { parseStorePath, type StorePath } from "../config/store_path.ts";
import { SETTINGS_ENV } from "../config/injector_env.ts";
import { parseEnvFromPath, type PathImport } from "../template/env_from_path.ts";
import {
  DEFAULT_POLL_MS,
  MIN_POLL_MS,
  parsePollInterval,
  parseRestartMode,
  parseTokenPath,
  type RestartMode,
} from "../config/watch.ts";

export const DEFAULT_AUTH_PATH = "kubernetes_local" as StorePath;
export const DEFAULT_TOKEN_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/token";
export const DEFAULT_CLIENT_TIMEOUT_MS = 10_000;
/** Where the kubelet reads a container's termination message from. */
export const DEFAULT_TERMINATION_LOG = "/dev/termination-log";

export interface InjectorSettings {
  address?: StoreAddress;
  role?: string;
  authPath: StorePath;
  namespace?: string;
  caCert?: string;
  caFile?: string;
  skipVerify: boolean;
  ignoreMissing: boolean;
  clientTimeoutMs: number;
  logLevel: LogLevel;
  jsonLog: boolean;
  tokenFile: string;
  envFromPath: PathImport[];
  /** SECRETS_STORE_RLIMIT_NOFILE; RLIM_INFINITY for "unlimited". */
  launcherNofile?: bigint;
  /** none: execve the app; the watch modes: stay as its parent (lib/inject/supervise.ts). */
  restartMode: RestartMode;
  pollIntervalMs: number;
  terminationLog: string;
}

/** A setting that cannot be used; the message names the variable and the bad value. */
export class SettingsError extends TypeError {
  override name = "SettingsError";
}

const text = z.string().trim().transform((s) => s || undefined).optional();

const bool = (name: string) =>
  z.string().optional().transform((v, ctx) => {
    const s = (v ?? "").trim().toLowerCase();
    if (s === "" || s === "false" || s === "0" || s === "no") return false;
    if (s === "true" || s === "1" || s === "yes") return true;
    ctx.addIssue({ code: "custom", message: `${name}="${v}" is not a boolean (true or false)` });
    return z.NEVER;
  });

const via = <T>(name: string, parse: (s: string) => T) =>
  z.string().transform((v, ctx) => {
    try {
      return parse(v);
    } catch (e) {
      ctx.addIssue({ code: "custom", message: `${name}: ${(e as Error).message}` });
      return z.NEVER;
    }
  });

/** A soft limit as `ulimit -S -n` prints it. */
function parseLimit(v: string): bigint {
  const t = v.trim();
  if (t === "unlimited") return RLIM_INFINITY;
  if (/^\d{1,19}$/.test(t)) return BigInt(t);
  throw new TypeError(`"${v}" is not a limit (a number or unlimited, as ulimit -S -n prints it)`);
}

const Schema = z.object({
  [SETTINGS_ENV.address]: text,
  [SETTINGS_ENV.allowInsecureHttp]: bool(SETTINGS_ENV.allowInsecureHttp),
  [SETTINGS_ENV.role]: text,
  [SETTINGS_ENV.authPath]: text,
  [SETTINGS_ENV.namespace]: text,
  [SETTINGS_ENV.caCert]: text.transform((v, ctx) => {
    try {
      return v === undefined ? undefined : parseCaPem(v);
    } catch (e) {
      ctx.addIssue({ code: "custom", message: `${SETTINGS_ENV.caCert}: ${(e as Error).message}` });
      return z.NEVER;
    }
  }),
  [SETTINGS_ENV.caFile]: text,
  [SETTINGS_ENV.skipVerify]: bool(SETTINGS_ENV.skipVerify),
  [SETTINGS_ENV.ignoreMissing]: bool(SETTINGS_ENV.ignoreMissing),
  [SETTINGS_ENV.clientTimeout]: via(SETTINGS_ENV.clientTimeout, parseDuration).optional(),
  [SETTINGS_ENV.logLevel]: via(SETTINGS_ENV.logLevel, parseLogLevel).optional(),
  [SETTINGS_ENV.jsonLog]: bool(SETTINGS_ENV.jsonLog),
  [SETTINGS_ENV.tokenFile]: text,
  [SETTINGS_ENV.envFromPath]: via(SETTINGS_ENV.envFromPath, parseEnvFromPath).optional(),
  [SETTINGS_ENV.rlimitNofile]: via(SETTINGS_ENV.rlimitNofile, parseLimit).optional(),
  [SETTINGS_ENV.restartOnSecretChange]: via(SETTINGS_ENV.restartOnSecretChange, parseRestartMode)
    .optional(),
  [SETTINGS_ENV.pollInterval]: text,
  [SETTINGS_ENV.testPollMinimum]: via(SETTINGS_ENV.testPollMinimum, parseDuration).optional(),
  [SETTINGS_ENV.terminationLog]: via(SETTINGS_ENV.terminationLog, parseTokenPath).optional(),
}).transform((e, ctx) => {
  const checked = <T>(name: string, raw: string | undefined, parse: (v: string) => T) => {
    if (raw === undefined) return undefined;
    try {
      return parse(raw);
    } catch (err) {
      ctx.addIssue({ code: "custom", message: `${name}: ${(err as Error).message}` });
      return undefined;
    }
  };
  return {
    ...e,
    // Checked here, where the http switch beside it is known.
    address: checked(
      SETTINGS_ENV.address,
      e[SETTINGS_ENV.address],
      (v) => parseStoreAddress(v, { allowInsecureHttp: e[SETTINGS_ENV.allowInsecureHttp] }),
    ),
    authPath: checked(SETTINGS_ENV.authPath, e[SETTINGS_ENV.authPath], parseStorePath),
    pollIntervalMs: checked(
      SETTINGS_ENV.pollInterval,
      e[SETTINGS_ENV.pollInterval],
      (v) => parsePollInterval(v, e[SETTINGS_ENV.testPollMinimum] ?? MIN_POLL_MS),
    ),
  };
});

/** Reads the settings out of an environment; throws SettingsError listing every bad one. */
export function readSettings(env: Record<string, string>): InjectorSettings {
  const r = Schema.safeParse(env);
  if (!r.success) {
    throw new SettingsError(
      `Invalid injector settings: ${r.error.issues.map((i) => i.message).join("; ")}`,
    );
  }
  const e = r.data;
  return {
    address: e.address,
    role: e.SECRETS_STORE_ROLE,
    authPath: e.authPath ?? DEFAULT_AUTH_PATH,
    namespace: e.SECRETS_STORE_NAMESPACE,
    caCert: e.SECRETS_STORE_CA_CERT,
    caFile: e.SECRETS_STORE_CA_FILE,
    skipVerify: e.SECRETS_STORE_TLS_SKIP_VERIFY,
    ignoreMissing: e.SECRETS_STORE_IGNORE_MISSING_SECRETS,
    clientTimeoutMs: e.SECRETS_STORE_CLIENT_TIMEOUT ?? DEFAULT_CLIENT_TIMEOUT_MS,
    logLevel: e.SECRETS_STORE_LOG_LEVEL ?? "info",
    jsonLog: e.SECRETS_STORE_JSON_LOG,
    tokenFile: e.SECRETS_STORE_TOKEN_FILE ?? DEFAULT_TOKEN_FILE,
    envFromPath: e.SECRETS_STORE_ENV_FROM_PATH ?? [],
    launcherNofile: e.SECRETS_STORE_RLIMIT_NOFILE,
    restartMode: e.SECRETS_STORE_RESTART_ON_SECRET_CHANGE ?? "none",
    pollIntervalMs: e.pollIntervalMs ?? DEFAULT_POLL_MS,
    terminationLog: e.SECRETS_STORE_TERMINATION_LOG ?? DEFAULT_TERMINATION_LOG,
  };
}

/** The environment the app gets: everything but the injector's own variables, and the app's
 * own LD_LIBRARY_PATH back where the webhook had replaced it. */
export function withoutSettings(env: Record<string, string>): Record<string, string> {
  const own = new Set<string>(Object.values(SETTINGS_ENV));
  const out = Object.fromEntries(Object.entries(env).filter(([k]) => !own.has(k)));
  const saved = env[SETTINGS_ENV.appLdLibraryPath];
  if (saved !== undefined) {
    if (saved === "") delete out.LD_LIBRARY_PATH;
    else out.LD_LIBRARY_PATH = saved;
  }
  return out;
}
