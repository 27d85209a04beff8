/** A wrapped exec probe (`inject --probe`) takes the values the app was started with from the
 * container's PID 1 instead of asking the store, when they can be shown to be the app's;
 * otherwise the probe resolves from the store as a container start does (docs/inject.md,
 * "Exec probes"). Values are never logged: only variable names and reasons. */
import { SETTINGS_ENV } from "../config/injector_env.ts";
import type { PathImport } from "../template/env_from_path.ts";
import { isEnvTemplate } from "../template/template.ts";

/** The most of PID 1's environment read; a larger one is not parsed and the store is asked. */
export const ENVIRON_LIMIT = 1024 * 1024;

/** PID 1's environment as read: its bytes, or why there are none. */
export type Environ = Uint8Array | "unreadable" | "too large";

/** The app's values for the probe, or why the probe asks the store. */
export type ProbeValues =
  | { env: Record<string, string>; taken: number }
  | { fallback: string };

const SETTINGS = new Set<string>(Object.values(SETTINGS_ENV));

/** Decides from the probe's own environment (templates, settings removed) and PID 1's. */
export function probeValues(
  probeEnv: Record<string, string>,
  envFromPath: readonly PathImport[],
  environ: Environ,
): ProbeValues {
  // Which of PID 1's variables came from an import cannot be told from its environment.
  if (envFromPath.length > 0) return { fallback: "env-from-path is set" };
  if (environ === "unreadable") {
    return { fallback: "the environment of PID 1 is not readable by the probe's user" };
  }
  if (environ === "too large") {
    return { fallback: `the environment of PID 1 is over ${ENVIRON_LIMIT} bytes` };
  }
  const app = parseEnviron(environ);
  if (!app) return { fallback: "the environment of PID 1 is not valid UTF-8" };
  // The injector removes its settings before it execs the app: PID 1 still holding one is an
  // injector (not yet exec'd, or a watch mode's supervisor) whose variables are templates.
  const setting = [...app.keys()].find((k) => SETTINGS.has(k));
  if (setting !== undefined) {
    return { fallback: `PID 1 is an injector, not the app (it holds ${setting})` };
  }
  const out: Array<[string, string]> = [];
  let taken = 0;
  for (const [name, value] of Object.entries(probeEnv)) {
    if (!isEnvTemplate(value)) {
      out.push([name, value]);
      continue;
    }
    const got = app.get(name);
    if (got === undefined) return { fallback: `PID 1 has no variable ${name}` };
    if (isEnvTemplate(got)) return { fallback: `PID 1's variable ${name} is a template` };
    out.push([name, got]);
    taken++;
  }
  // fromEntries defines each name as an own property, `__proto__` included.
  return { env: Object.fromEntries(out), taken };
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

/** Reads `<procRoot>/1/environ`, at most ENVIRON_LIMIT bytes (proc files have no size, so
 * it is read until end or the limit). */
export async function readEnviron(procRoot: string): Promise<Environ> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(`${procRoot}/1/environ`, { read: true });
  } catch {
    return "unreadable";
  }
  try {
    const buf = new Uint8Array(ENVIRON_LIMIT + 1);
    let n = 0;
    while (n < buf.length) {
      const got = await file.read(buf.subarray(n));
      if (got === null) break;
      n += got;
    }
    return n > ENVIRON_LIMIT ? "too large" : buf.slice(0, n);
  } catch {
    return "unreadable";
  } finally {
    file.close();
  }
}
