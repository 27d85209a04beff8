/** The values of the module's injector annotations that this product adopted (restart on a
 * changed secret, the poll interval, another token file, the init container's pull policy),
 * checked by one set of parsers: the webhook refuses at admission what the injector would
 * refuse in the container. Each parser throws a TypeError whose message says what is allowed. */
import { parseDuration } from "./duration.ts";

/** `restart-on-secret-change`, with the module's names. */
export const RESTART_MODES = ["none", "watch-for-data", "watch-for-lease"] as const;
export type RestartMode = typeof RESTART_MODES[number];

/** `secret-poll-interval` when unset: the module's default. */
export const DEFAULT_POLL_MS = 120_000;
/** Below this a poll interval is refused: every container would poll its store several times
 * a second for nothing a user can see sooner. */
export const MIN_POLL_MS = 5_000;
/** Above this a poll interval is refused: a day already outlives most secrets' leases. */
export const MAX_POLL_MS = 24 * 3_600_000;

/** Kubernetes' imagePullPolicy values. */
export const PULL_POLICIES = ["Always", "IfNotPresent", "Never"] as const;
export type PullPolicy = typeof PULL_POLICIES[number];

/** Linux PATH_MAX: no longer path can be opened. */
const PATH_MAX = 4096;

export function parseRestartMode(text: string): RestartMode {
  const t = text.trim();
  if ((RESTART_MODES as readonly string[]).includes(t)) return t as RestartMode;
  throw new TypeError(`"${text}" is not one of ${RESTART_MODES.join(", ")}`);
}

/** Milliseconds of a poll interval; `minMs` is lowered only by the tests' hidden setting. */
export function parsePollInterval(text: string, minMs = MIN_POLL_MS): number {
  const ms = parseDuration(text);
  if (ms < minMs) throw new TypeError(`"${text}" is shorter than the minimum ${minMs / 1000}s`);
  if (ms > MAX_POLL_MS) throw new TypeError(`"${text}" is longer than the maximum 24h`);
  return ms;
}

export function parsePullPolicy(text: string): PullPolicy {
  const t = text.trim();
  if ((PULL_POLICIES as readonly string[]).includes(t)) return t as PullPolicy;
  throw new TypeError(`"${text}" is not one of ${PULL_POLICIES.join(", ")}`);
}

/** A token file inside the container: absolute, no `.`/`..` or empty segment (the path is
 * read as written, and a path that climbs is a typo or a trick), no control character. */
export function parseTokenPath(text: string): string {
  const t = text.trim();
  if (!t.startsWith("/")) throw new TypeError(`"${text}" is not an absolute path`);
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f]/.test(t)) throw new TypeError("the path holds a control character");
  if (new TextEncoder().encode(t).length >= PATH_MAX) {
    throw new TypeError(`the path is longer than ${PATH_MAX - 1} bytes`);
  }
  const segments = t.slice(1).split("/");
  if (segments.some((s) => s === "" || s === "." || s === "..")) {
    throw new TypeError(`"${text}" has an empty, "." or ".." segment`);
  }
  return t;
}
