/** The injector's own settings. The webhook writes them into the container as environment
 * variables (from annotations and installation defaults); the injector removes every one of
 * them before it starts the app. */
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
  address?: StoreAddress | undefined;
  role?: string | undefined;
  authPath: StorePath;
  namespace?: string | undefined;
  caCert?: string | undefined;
  caFile?: string | undefined;
  skipVerify: boolean;
  ignoreMissing: boolean;
  clientTimeoutMs: number;
  logLevel: LogLevel;
  jsonLog: boolean;
  tokenFile: string;
  envFromPath: PathImport[];
  /** SECRETS_STORE_RLIMIT_NOFILE; RLIM_INFINITY for "unlimited". */
  launcherNofile?: bigint | undefined;
  /** none: execve the app; the watch modes: stay as its parent (lib/inject/supervise.ts). */
  restartMode: RestartMode;
  pollIntervalMs: number;
  terminationLog: string;
  /** Where a wrapped exec probe finds PID 1's environment: /proc, except in tests. */
  procRoot: string;
  /** Revoke the store token once the secrets are read (SECRETS_STORE_REVOKE_TOKEN). */
  revokeToken: boolean;
  /** `secrets-store:login` is allowed (SECRETS_STORE_ALLOW_LOGIN_TOKEN); off unless "true". */
  allowLoginToken: boolean;
}

/** A setting that cannot be used; the message names the variable and the bad value. */
export class SettingsError extends TypeError {
  override name = "SettingsError";
}

/** Trimmed; empty counts as unset. */
const text = (v: string | undefined) => v?.trim() || undefined;

/** Checks of the variables, one at a time; plain code rather than a zod schema, since the
 * injector starts in every container and probe, and building schemas (and loading zod) was
 * part of its start-up (docs/benchmarks.md). Every problem is collected, then thrown
 * together. */
class Reader {
  readonly issues: string[] = [];
  constructor(readonly env: Record<string, string>) {}

  text(name: string): string | undefined {
    return text(this.env[name]);
  }

  /** `fallback` when unset or empty. */
  bool(name: string, fallback = false): boolean {
    const v = this.env[name];
    const s = (v ?? "").trim().toLowerCase();
    if (s === "") return fallback;
    if (s === "false" || s === "0" || s === "no") return false;
    if (s === "true" || s === "1" || s === "yes") return true;
    this.issues.push(`${name}="${v}" is not a boolean (true or false)`);
    return fallback;
  }

  /** `parse` of the raw value (not trimmed) when the variable is set; its error names it. */
  via<T>(name: string, raw: string | undefined, parse: (s: string) => T): T | undefined {
    if (raw === undefined) return undefined;
    try {
      return parse(raw);
    } catch (e) {
      this.issues.push(`${name}: ${(e as Error).message}`);
      return undefined;
    }
  }

  /** Throws SettingsError listing every problem so far. */
  check(): void {
    if (this.issues.length) {
      throw new SettingsError(`Invalid injector settings: ${this.issues.join("; ")}`);
    }
  }
}

/** A soft limit as `ulimit -S -n` prints it. */
function parseLimit(v: string): bigint {
  const t = v.trim();
  if (t === "unlimited") return RLIM_INFINITY;
  if (/^\d{1,19}$/.test(t)) return BigInt(t);
  throw new TypeError(`"${v}" is not a limit (a number or unlimited, as ulimit -S -n prints it)`);
}

/** Reads the settings out of an environment; throws SettingsError listing every bad one. */
export function readSettings(env: Record<string, string>): InjectorSettings {
  const v = SETTINGS_ENV;
  const r = new Reader(env);
  const address = r.text(v.address);
  const allowInsecureHttp = r.bool(v.allowInsecureHttp);
  const role = r.text(v.role);
  const authPath = r.text(v.authPath);
  const namespace = r.text(v.namespace);
  const caCert = r.via(v.caCert, r.text(v.caCert), parseCaPem);
  const caFile = r.text(v.caFile);
  const skipVerify = r.bool(v.skipVerify);
  const ignoreMissing = r.bool(v.ignoreMissing);
  const clientTimeoutMs = r.via(v.clientTimeout, env[v.clientTimeout], parseDuration);
  const logLevel = r.via(v.logLevel, env[v.logLevel], parseLogLevel);
  const jsonLog = r.bool(v.jsonLog);
  const tokenFile = r.text(v.tokenFile);
  const envFromPath = r.via(v.envFromPath, env[v.envFromPath], parseEnvFromPath);
  const launcherNofile = r.via(v.rlimitNofile, env[v.rlimitNofile], parseLimit);
  const restartMode = r.via(
    v.restartOnSecretChange,
    env[v.restartOnSecretChange],
    parseRestartMode,
  );
  const pollInterval = r.text(v.pollInterval);
  const testPollMinimum = r.via(v.testPollMinimum, env[v.testPollMinimum], parseDuration);
  const terminationLog = r.via(v.terminationLog, env[v.terminationLog], parseTokenPath);
  const procRoot = r.via(v.testProcRoot, env[v.testProcRoot], parseTokenPath);
  const revokeToken = r.bool(v.revokeToken, true);
  const allowLoginToken = r.bool(v.allowLoginToken);
  r.check();
  // Checked once every variable on its own is fine, where the http switch beside it is known.
  const checkedAddress = r.via(
    v.address,
    address,
    (a) => parseStoreAddress(a, { allowInsecureHttp }),
  );
  const checkedAuthPath = r.via(v.authPath, authPath, parseStorePath);
  const pollIntervalMs = r.via(
    v.pollInterval,
    pollInterval,
    (p) => parsePollInterval(p, testPollMinimum ?? MIN_POLL_MS),
  );
  r.check();
  return {
    address: checkedAddress,
    role,
    authPath: checkedAuthPath ?? DEFAULT_AUTH_PATH,
    namespace,
    caCert,
    caFile,
    skipVerify,
    ignoreMissing,
    clientTimeoutMs: clientTimeoutMs ?? DEFAULT_CLIENT_TIMEOUT_MS,
    logLevel: logLevel ?? "info",
    jsonLog,
    tokenFile: tokenFile ?? DEFAULT_TOKEN_FILE,
    envFromPath: envFromPath ?? [],
    launcherNofile,
    restartMode: restartMode ?? "none",
    pollIntervalMs: pollIntervalMs ?? DEFAULT_POLL_MS,
    terminationLog: terminationLog ?? DEFAULT_TERMINATION_LOG,
    procRoot: procRoot ?? "/proc",
    revokeToken,
    allowLoginToken,
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
