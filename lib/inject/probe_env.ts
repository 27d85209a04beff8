/** A wrapped exec probe (`inject --probe`) takes the values the app was started with from the
 * app's own process instead of asking the store, when they can be shown to be the app's:
 * PID 1 itself, or, in a watch mode, the one child of the injector's supervisor at PID 1.
 * Otherwise the probe resolves from the store as a container start does (docs/inject.md,
 * "Exec probes"). Values are never logged: only variable names, pids and reasons. */
import { SETTINGS_ENV } from "../config/injector_env.ts";
import type { PathImport } from "../template/env_from_path.ts";
import { isEnvTemplate } from "../template/template.ts";
import {
  type Environ,
  ENVIRON_LIMIT,
  readChildren,
  readEnviron,
  readMountNs,
  readStatus,
} from "./proc_read.ts";

/** The app's values for the probe (and whose they are), or why the probe asks the store. */
export type ProbeValues =
  | { env: Record<string, string>; taken: number; from: string }
  | { fallback: string };

const SETTINGS = new Set<string>(Object.values(SETTINGS_ENV));
const WATCH_MODES = new Set(["watch-for-data", "watch-for-lease"]);

/** Decides from the probe's own environment (templates, settings removed) and the processes
 * under `procRoot` (/proc, or a test's stand-in). */
export async function probeValues(
  probeEnv: Record<string, string>,
  envFromPath: readonly PathImport[],
  procRoot: string,
): Promise<ProbeValues> {
  // Which of the app's variables came from an import cannot be told from its environment.
  if (envFromPath.length > 0) return { fallback: "env-from-path is set" };
  const pid1 = decode(await readEnviron(procRoot, 1), "PID 1");
  if (typeof pid1 === "string") return { fallback: pid1 };
  // The injector removes its settings before it execs the app or starts it as a child: a
  // process still holding one is an injector, whose variables are templates.
  const setting = settingIn(pid1);
  if (setting === undefined) return appValues(probeEnv, pid1, "PID 1");
  const notOurs = supervisorProblem(pid1, probeEnv);
  if (notOurs !== undefined) {
    return { fallback: `PID 1 is an injector, not the app (it holds ${setting}): ${notOurs}` };
  }
  const app = await supervisedApp(procRoot);
  return typeof app === "string"
    ? { fallback: app }
    : appValues(probeEnv, app.env, `PID ${app.pid}`);
}

/** Why PID 1, an injector, is not the supervisor of this container's app, or undefined. */
function supervisorProblem(
  pid1: Map<string, string>,
  probeEnv: Record<string, string>,
): string | undefined {
  // Without a watch mode an injector execs the app: it is still resolving.
  if (!WATCH_MODES.has(pid1.get(SETTINGS_ENV.restartOnSecretChange)?.trim() ?? "")) {
    return "no watch mode, so it has not started the app yet";
  }
  // The probe runs with the container's environment, as the supervisor was started with it.
  for (const [name, value] of Object.entries(probeEnv)) {
    if (isEnvTemplate(value) && pid1.get(name) !== value) {
      return `its ${name} is not the probe's template`;
    }
  }
  return undefined;
}

/** The supervisor's one child, checked to be the app it started: still PID 1's child, the
 * same user and mount namespace (the same container) as PID 1. */
async function supervisedApp(
  procRoot: string,
): Promise<{ pid: number; env: Map<string, string> } | string> {
  const children = await readChildren(procRoot, 1);
  if (children === undefined) return "the children of PID 1 (the supervisor) cannot be listed";
  // None: the app has not started or has ended. More: an orphan was adopted beside it, and
  // which one is the app cannot be told.
  if (children.length !== 1) {
    return `PID 1 (the supervisor) has ${children.length} children, not just the app`;
  }
  const pid = children[0]!;
  const env = decode(await readEnviron(procRoot, pid), `PID ${pid}`);
  if (typeof env === "string") return env;
  // Read after the environment: a pid reused in between would no longer be PID 1's child.
  const [status, status1, ns, ns1] = await Promise.all([
    readStatus(procRoot, pid),
    readStatus(procRoot, 1),
    readMountNs(procRoot, pid),
    readMountNs(procRoot, 1),
  ]);
  if (status?.ppid !== 1) return `PID ${pid} is no longer the child of PID 1`;
  if (status1 === undefined || status.uids !== status1.uids) {
    return `PID ${pid} does not run as PID 1's user`;
  }
  if (ns === undefined || ns !== ns1) return `PID ${pid} is not in PID 1's mount namespace`;
  return { pid, env };
}

/** The probe's environment with each template replaced by the app's value of that name. */
function appValues(
  probeEnv: Record<string, string>,
  app: Map<string, string>,
  who: string,
): ProbeValues {
  const setting = settingIn(app);
  if (setting !== undefined) return { fallback: `${who} holds ${setting}: not the app` };
  const out: Array<[string, string]> = [];
  let taken = 0;
  for (const [name, value] of Object.entries(probeEnv)) {
    if (!isEnvTemplate(value)) {
      out.push([name, value]);
      continue;
    }
    const got = app.get(name);
    if (got === undefined) return { fallback: `${who} has no variable ${name}` };
    if (isEnvTemplate(got)) return { fallback: `${who}'s variable ${name} is a template` };
    out.push([name, got]);
    taken++;
  }
  // fromEntries defines each name as an own property, `__proto__` included.
  return { env: Object.fromEntries(out), taken, from: who };
}

function settingIn(env: Map<string, string>): string | undefined {
  return [...env.keys()].find((k) => SETTINGS.has(k));
}

/** The parsed environment, or why it cannot be used. */
function decode(environ: Environ, who: string): Map<string, string> | string {
  if (environ === "unreadable") {
    return `the environment of ${who} is not readable by the probe's user`;
  }
  if (environ === "too large") return `the environment of ${who} is over ${ENVIRON_LIMIT} bytes`;
  return parseEnviron(environ) ?? `the environment of ${who} is not valid UTF-8`;
}

/** NUL-separated NAME=value entries; undefined when not UTF-8. A name repeated keeps its
 * first value, as getenv(3) finds it. A Map, since the names are the app's and may be any
 * (`__proto__`, `constructor`). */
export function parseEnviron(bytes: Uint8Array): Map<string, string> | undefined {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
  const out = new Map<string, string>();
  for (const entry of text.split("\0")) {
    const eq = entry.indexOf("=");
    if (eq <= 0) continue;
    const name = entry.slice(0, eq);
    if (!out.has(name)) out.set(name, entry.slice(eq + 1));
  }
  return out;
}
