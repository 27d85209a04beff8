/** Turns an environment with templates and env-from-path imports into the app's
 * environment. Each distinct (path, version) is read once, a bounded number at a time. */
import type { Logger } from "../log/logger.ts";
import { type Secret, secretValue } from "../vault/client.ts";
import { mapBounded } from "../sys/bounded.ts";
import { StoreError } from "../vault/errors.ts";
import { readKey, type StorePath } from "../config/store_path.ts";
import type { PathImport } from "../template/env_from_path.ts";
import type { SecretSource } from "./source.ts";
import {
  type EnvTemplate,
  isEnvTemplate,
  parseEnvValue,
  refName,
  refsOf,
  type SecretRef,
  TemplateError,
} from "../template/template.ts";
import { MASK } from "../template/engine.ts";
import type { Value } from "../template/render_value.ts";

export interface ResolveOptions {
  /** Paths (at a version, or the latest) whose every key becomes a variable; later ones win,
   * and win over templates. */
  envFromPath: PathImport[];
  ignoreMissing: boolean;
  /** Aborts outstanding reads (client-timeout). */
  signal: AbortSignal;
  concurrency?: number;
  logger: Logger;
}

/** How one variable got (or did not get) its value; never holds the value. */
export interface Assignment {
  variable: string;
  from: "template" | "env-from-path";
  /** The reference, or the first of a value's inline references. */
  ref: SecretRef;
  /** Every reference of the value, when it has more than one. */
  refs?: SecretRef[];
  status: "ok" | "failed" | "overridden";
  reason?: string;
  /** The value with every part from the store masked, e.g. `postgresql://********@db`
   * (dry runs); set when the value resolved. */
  masked?: string;
}

export interface Resolution {
  env: Record<string, string>;
  assignments: Assignment[];
  /** Distinct reads made, for logs and benchmarks. */
  reads: number;
}

/** Resolution failed and ignore-missing-secrets is off; the message lists every failure. */
export class ResolveError extends Error {
  override name = "ResolveError";
  readonly exitCode = 1;
  constructor(readonly failures: Assignment[]) {
    super(
      `Cannot resolve ${failures.length} secret reference(s); the app was not started:\n` +
        failures.map((f) => `  ${f.variable} <- ${describeRef(f)}: ${f.reason}`).join("\n"),
    );
  }
}

const ENV_NAME = /^[^=\0]+$/;

/** True when `env` holds anything to resolve, so a caller can skip logging in at all. */
export function needsStore(env: Record<string, string>, envFromPath: PathImport[]): boolean {
  return envFromPath.length > 0 || Object.entries(env).some(([k, v]) => isTemplate(k, v));
}

function isTemplate(_name: string, value: string): boolean {
  // Malformed ones count: they must be reported, not passed on.
  return isEnvTemplate(value);
}

/** Resolves `env`; throws ResolveError unless every reference resolved or ignoreMissing. */
export async function resolveEnv(
  env: Record<string, string>,
  source: SecretSource,
  o: ResolveOptions,
): Promise<Resolution> {
  const out = { ...env };
  const assignments: Assignment[] = [];
  const templated: Array<[string, EnvTemplate]> = [];
  for (const [name, value] of Object.entries(env)) {
    try {
      const t = parseEnvValue(name, value);
      if (t) templated.push([name, t]);
    } catch (e) {
      if (!(e instanceof TemplateError)) throw e;
      assignments.push({
        variable: name,
        from: "template",
        ref: { path: "" as StorePath, key: "" },
        status: "failed",
        reason: e.message,
      });
    }
  }

  const wanted = new Map<string, PathImport>();
  for (const [, t] of templated) {
    for (const ref of refsOf(t)) {
      wanted.set(readKey(ref.path, ref.version), { path: ref.path, version: ref.version });
    }
  }
  for (const p of o.envFromPath) wanted.set(readKey(p.path, p.version), p);
  const secrets = await readAll([...wanted.entries()], source, o);

  for (const [name, t] of templated) {
    const refs = refsOf(t);
    const ref = refs[0]!;
    const many = refs.length > 1 ? { refs } : {};
    let at = ref;
    try {
      const value: string[] = [];
      const masked: string[] = [];
      for (const part of t.kind === "whole" ? [t.ref] : t.parts) {
        if (typeof part === "string") {
          value.push(part);
          masked.push(part);
          continue;
        }
        at = part;
        const got = secrets.get(readKey(part.path, part.version))!;
        if (got instanceof Error) throw got;
        value.push(render(part, got, source.name));
        masked.push(part.template ? part.template.render(got.data as Value, { mask: true }) : MASK);
      }
      out[name] = checked(name, value.join(""), at);
      assignments.push({
        variable: name,
        from: "template",
        ref,
        ...many,
        status: "ok",
        masked: masked.join(""),
      });
    } catch (e) {
      assignments.push({
        variable: name,
        from: "template",
        ref: at,
        ...many,
        status: "failed",
        reason: reasonOf(e),
      });
    }
  }

  for (const { path, version } of o.envFromPath) {
    const got = secrets.get(readKey(path, version))!;
    if (got instanceof Error) {
      assignments.push({
        variable: "*",
        from: "env-from-path",
        ref: { path, key: "*", version },
        status: "failed",
        reason: reasonOf(got),
      });
      continue;
    }
    for (const key of Object.keys(got.data)) {
      const ref = { path, key, version };
      if (!ENV_NAME.test(key)) {
        o.logger.warn("key cannot be an environment variable name, skipped", {
          path,
          version,
          key,
        });
        continue;
      }
      try {
        out[key] = checked(key, secretValue(got, key, source.name), ref);
      } catch (e) {
        assignments.push({
          variable: key,
          from: "env-from-path",
          ref,
          status: "failed",
          reason: reasonOf(e),
        });
        continue;
      }
      // Imports win over templates and over earlier imports of the same name.
      for (const a of assignments) {
        if (a.variable === key && a.status === "ok") a.status = "overridden";
      }
      assignments.push({ variable: key, from: "env-from-path", ref, status: "ok" });
    }
  }

  const failures = assignments.filter((a) => a.status === "failed");
  if (failures.length > 0 && !o.ignoreMissing) throw new ResolveError(failures);
  for (const f of failures) {
    // Never hand the app a variable still holding its template.
    if (
      f.from === "template" &&
      !assignments.some((a) => a.variable === f.variable && a.status === "ok")
    ) {
      delete out[f.variable];
    }
    o.logger.warn("secret not resolved, ignored (ignore-missing-secrets)", {
      variable: f.variable,
      ref: describeRef(f),
      reason: f.reason,
    });
  }
  return { env: out, assignments, reads: wanted.size };
}

/** Reads every wanted secret, at most `concurrency` at a time; failures are kept as values. */
async function readAll(
  wanted: Array<[string, PathImport]>,
  source: SecretSource,
  o: ResolveOptions,
): Promise<Map<string, Secret | Error>> {
  const results = new Map<string, Secret | Error>();
  await mapBounded(wanted, o.concurrency ?? 8, async ([key, { path, version }]) => {
    try {
      results.set(key, await source.read(path, version, o.signal));
      o.logger.debug("read secret", { path, version });
    } catch (e) {
      results.set(key, e instanceof Error ? e : new Error(String(e)));
    }
  });
  return results;
}

/** One reference's text: its key, or its key template rendered over the secret's data. */
function render(ref: SecretRef, secret: Secret, address: string): string {
  return ref.template
    ? ref.template.render(secret.data as Value)
    : secretValue(secret, ref.key, address);
}

function checked(variable: string, value: string, ref: SecretRef): string {
  if (value.includes("\0")) {
    throw new TypeError(
      `the value of ${refName(ref)} holds a NUL byte, which ${variable} cannot carry`,
    );
  }
  return value;
}

function reasonOf(e: unknown): string {
  // The variable is named beside the reason already; the template's own words follow.
  if (e instanceof TemplateError && e.position) {
    return `key template at ${e.position.line}:${e.position.column}: ${e.reason}`;
  }
  if (e instanceof StoreError) {
    return e.kind === "not_found" && e.key !== undefined
      ? `key "${e.key}" not found in ${e.path}`
      : `${e.kind.replaceAll("_", " ")}: ${e.message}`;
  }
  return e instanceof Error ? e.message : String(e);
}

function describeRef(a: Assignment): string {
  if (a.ref.path === "") return "(malformed template)";
  return a.from === "env-from-path" && a.ref.key === "*"
    ? `${a.ref.path}${a.ref.version !== undefined ? `#${a.ref.version}` : ""} (env-from-path)`
    : refName(a.ref);
}
