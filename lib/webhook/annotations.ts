/** The Pod annotations of the usage guide, parsed and checked at admission so a typo is
 * refused with a message naming the annotation instead of failing later in the container. */
import { parseDuration } from "../config/duration.ts";
import { parseEnvFromPath } from "../template/env_from_path.ts";
import { parseLogLevel } from "../log/logger.ts";
import { parseStoreAddress } from "../config/store_address.ts";
import { parseStorePath, type StorePath } from "../config/store_path.ts";
import {
  parsePollInterval,
  parsePullPolicy,
  parseRestartMode,
  parseTokenPath,
  type PullPolicy,
  type RestartMode,
} from "../config/watch.ts";

export const PREFIX = "secrets-store.deckhouse.io/";

/** Every annotation of the contract, by its suffix. */
export const ANNOTATIONS = [
  "role",
  "addr",
  "tls-secret",
  "tls-skip-verify",
  "auth-path",
  "namespace",
  "env-from-path",
  "ignore-missing-secrets",
  "client-timeout",
  "mutate-probes",
  "log-level",
  "enable-json-log",
  "skip-mutate-containers",
  // The module's injector (1.4) beyond the guide:
  "restart-on-secret-change",
  "secret-poll-interval",
  "service-account-token-path",
  "env-injector-pull-policy",
  // Beyond the module: "false" keeps the injector's store token alive to its TTL, "true"
  // revokes it whatever the installation's injector.revokeToken says.
  "revoke-token",
] as const;

/** Written by the webhook on each Pod it mutated (mutate.ts), never read from the user:
 * `<injector version>; delivery=<copy|imageVolume>`. */
export const INJECTED = "injected";

export interface PodOptions {
  role: string;
  addr?: string | undefined;
  tlsSecret?: string | undefined;
  tlsSkipVerify: boolean;
  authPath?: StorePath | undefined;
  namespace?: string | undefined;
  envFromPath?: string | undefined;
  ignoreMissingSecrets: boolean;
  clientTimeout?: string | undefined;
  mutateProbes: boolean;
  logLevel?: string | undefined;
  enableJsonLog: boolean;
  /** The annotation's names when it is set (even empty), else the installation's list. */
  skipMutateContainers: string[];
  restartOnSecretChange: RestartMode;
  secretPollInterval?: string | undefined;
  serviceAccountTokenPath?: string | undefined;
  envInjectorPullPolicy?: PullPolicy | undefined;
  /** Revoke the injector's store token once it has read the secrets: the annotation, else
   * the installation's injector.revokeToken. */
  revokeToken: boolean;
}

/** A bad annotation; the Pod is refused with this message. */
export class AnnotationError extends TypeError {
  override name = "AnnotationError";
}

type Annotation = typeof ANNOTATIONS[number];

/** Each annotation's full name, built once: a name concatenated at each lookup is hashed
 * anew every time, and that was a fifth of reading the options. */
const FULL_NAME = Object.fromEntries(ANNOTATIONS.map((a) => [a, PREFIX + a])) as Record<
  Annotation,
  string
>;

/** True when the Pod asks for injection. */
export function wantsInjection(annotations: Record<string, string> | undefined): boolean {
  return annotations?.[FULL_NAME.role] !== undefined;
}

/** What the installation allows, for the checks that depend on it. */
export interface AnnotationRules {
  /** connection.allowInsecureHttp: an http:// `addr` is refused unless it is true. */
  allowInsecureHttp: boolean;
  /** injector.skipContainers: the containers left alone when the Pod has no
   * skip-mutate-containers annotation (the module's service-mesh list by default). */
  skipContainers?: readonly string[] | undefined;
  /** injector.revokeToken: whether the injector revokes its store token when the Pod has no
   * revoke-token annotation; true when not given. */
  revokeToken?: boolean | undefined;
}

/** Reads the Pod's options; throws AnnotationError listing every bad annotation. */
export function readPodOptions(
  annotations: Record<string, string>,
  rules: AnnotationRules = { allowInsecureHttp: false },
): PodOptions {
  const problems: string[] = [];
  const get = (name: Annotation) => {
    const v = annotations[FULL_NAME[name]]?.trim();
    return v === "" ? undefined : v;
  };
  const bool = (name: Annotation, fallback = false): boolean => {
    const v = get(name)?.toLowerCase();
    if (v === undefined) return fallback;
    if (v === "false") return false;
    if (v === "true") return true;
    problems.push(`${FULL_NAME[name]}: "${annotations[FULL_NAME[name]]}" is not true or false`);
    return fallback;
  };
  const checked = (
    name: typeof ANNOTATIONS[number],
    parse: (v: string) => unknown,
  ): string | undefined => {
    const v = get(name);
    if (v === undefined) return undefined;
    try {
      parse(v);
    } catch (e) {
      problems.push(`${FULL_NAME[name]}: ${(e as Error).message}`);
    }
    return v;
  };
  const role = get("role");
  if (role === undefined) {
    problems.push(`${FULL_NAME.role}: must name the store role to log in with`);
  }
  const addr = checked("addr", (v) => parseStoreAddress(v, rules));
  const tlsSecret = checked("tls-secret", (v) => {
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(v) || v.length > 253) {
      throw new TypeError(`"${v}" is not a valid Secret name`);
    }
  });
  const options: PodOptions = {
    role: role ?? "",
    addr,
    tlsSecret,
    tlsSkipVerify: bool("tls-skip-verify"),
    // Checked with the injector's own parsers, so what the webhook lets through the injector
    // accepts, and a bad path is refused at admission instead of in the container.
    authPath: checked("auth-path", parseStorePath) as StorePath | undefined,
    namespace: get("namespace"),
    envFromPath: checked("env-from-path", parseEnvFromPath),
    ignoreMissingSecrets: bool("ignore-missing-secrets"),
    clientTimeout: checked("client-timeout", parseDuration),
    mutateProbes: bool("mutate-probes"),
    logLevel: checked("log-level", parseLogLevel),
    enableJsonLog: bool("enable-json-log"),
    // As in the module: the annotation replaces the installation's list, it does not add to it.
    skipMutateContainers: annotations[FULL_NAME["skip-mutate-containers"]] === undefined
      ? [...(rules.skipContainers ?? [])]
      : (get("skip-mutate-containers") ?? "").split(/\s+/).filter((s) => s),
    restartOnSecretChange: (checked("restart-on-secret-change", parseRestartMode) ??
      "none") as RestartMode,
    secretPollInterval: checked("secret-poll-interval", (v) => parsePollInterval(v)),
    serviceAccountTokenPath: checked("service-account-token-path", parseTokenPath),
    envInjectorPullPolicy: checked("env-injector-pull-policy", parsePullPolicy) as
      | PullPolicy
      | undefined,
    revokeToken: bool("revoke-token", rules.revokeToken ?? true),
  };
  if (problems.length > 0) throw new AnnotationError(`Invalid annotations: ${problems.join("; ")}`);
  return options;
}
