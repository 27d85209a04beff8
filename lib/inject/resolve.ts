/** Turns an environment with templates and env-from-path imports into the app's
 * environment. Each distinct (path, version) is read once, a bounded number at a time; then,
 * only when nothing failed that would stop the app, each distinct write (path and body) is
 * sent once and the store token handed to `secrets-store:login` variables. */
import type { Logger } from "../log/logger.ts";
import { type Secret, secretValue } from "../vault/client.ts";
import { mapBounded } from "../sys/bounded.ts";
import { StoreError } from "../vault/errors.ts";
import { quote, readKey, type StorePath } from "../config/store_path.ts";
import type { PathImport } from "../template/env_from_path.ts";
import type { SecretSource } from "./source.ts";
import {
  type EnvTemplate,
  isEnvTemplate,
  LOGIN_VALUE,
  parseEnvValue,
  refName,
  refsOf,
  type SecretRef,
  TemplateError,
  type WriteRef,
} from "../template/template.ts";
import { SETTINGS_ENV } from "../config/injector_env.ts";
import { TransportError } from "../http/transport.ts";
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
  /** `start` (default): writes are sent and the token is handed out. `poll` (watch modes):
   * writes are not repeated and their variables left out, the token is taken again (a new
   * one means the app's copy died). `dry-run`: neither, both only reported. */
  run?: "start" | "poll" | "dry-run";
  /** SECRETS_STORE_ALLOW_LOGIN_TOKEN: `secrets-store:login` is refused unless true. */
  allowLoginToken?: boolean;
}

/** How one variable got (or did not get) its value; never holds the value. */
export interface Assignment {
  variable: string;
  from: "template" | "env-from-path";
  /** The reference, or the first of a value's inline references; a write's path and key. */
  ref: SecretRef;
  /** Every reference of the value, when it has more than one. */
  refs?: SecretRef[];
  /** A write reference's value, or the injector's token (secrets-store:login). */
  special?: "write" | "login";
  /** skipped: a write not sent (a dry run, a poll). */
  status: "ok" | "failed" | "overridden" | "skipped";
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
  /** Distinct writes sent. */
  writes?: number;
  /** The app's environment holds the injector's store token (secrets-store:login), which
   * must then outlive the injector: it is not revoked. */
  gaveToken?: boolean;
}

/** Resolution failed and ignore-missing-secrets is off; the message lists every failure. */
export class ResolveError extends Error {
  override name = "ResolveError";
  readonly exitCode = 1;
  constructor(readonly failures: Assignment[], unsentWrites = 0) {
    super(
      `Cannot resolve ${failures.length} secret reference(s); the app was not started:\n` +
        failures.map((f) => `  ${f.variable} <- ${describeRef(f)}: ${f.reason}`).join("\n") +
        (unsentWrites
          ? `\n  (${unsentWrites} write reference(s) not sent, since the app could not start)`
          : ""),
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
      if (t?.kind === "login" && !o.allowLoginToken) {
        // Refused before any store request: nothing is logged in for a token not given.
        assignments.push({ ...loginAssignment(name), status: "failed", reason: loginRefused() });
      } else if (t) templated.push([name, t]);
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
    if (t.kind === "write" || t.kind === "login") continue;
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

  // Writes and the token only for an app that can start: a write is not undone, and a crash
  // loop would repeat it at every start.
  const blocked = !o.ignoreMissing && (assignments.some((a) => a.status === "failed") ||
    o.envFromPath.some((p) => secrets.get(readKey(p.path, p.version)) instanceof Error));
  const special = templated.filter(([, t]) => t.kind === "write" || t.kind === "login");
  const given = blocked || special.length === 0
    ? { writes: 0, gaveToken: false }
    : await writesAndToken(special, out, assignments, source, o);

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
        if (a.variable === key && (a.status === "ok" || a.status === "skipped")) {
          a.status = "overridden";
        }
      }
      assignments.push({ variable: key, from: "env-from-path", ref, status: "ok" });
    }
  }

  const failures = assignments.filter((a) => a.status === "failed");
  if (failures.length > 0 && !o.ignoreMissing) {
    const unsent = (o.run ?? "start") === "start" && blocked
      ? new Set(special.filter(([, t]) => t.kind === "write").map(([, t]) => writeKey(t))).size
      : 0;
    throw new ResolveError(failures, unsent);
  }
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
  return { env: out, assignments, reads: wanted.size, ...given };
}

/** The values a watch mode hashes to see a change: all but those of writes, which are sent
 * once at start and never polled (a new PKI certificate at every poll would be a change each
 * time). */
export function watchedEnv(r: Resolution): Record<string, string> {
  const written = new Set(
    r.assignments.filter((a) => a.special === "write" && a.status !== "overridden").map((a) =>
      a.variable
    ),
  );
  return Object.fromEntries(Object.entries(r.env).filter(([k]) => !written.has(k)));
}

type Special = [string, EnvTemplate];

/** Sends each distinct write once (on `start`) and takes the token once, filling `out`. */
async function writesAndToken(
  special: Special[],
  out: Record<string, string>,
  assignments: Assignment[],
  source: SecretSource,
  o: ResolveOptions,
): Promise<{ writes: number; gaveToken: boolean }> {
  const run = o.run ?? "start";
  const distinct = new Map<string, WriteRef>();
  for (const [, t] of special) if (t.kind === "write") distinct.set(writeKey(t), t.write);
  const written = run === "start"
    ? await writeAll([...distinct.entries()], source, o)
    : new Map<string, Secret | Error>();
  let token: Promise<string> | undefined;
  let gaveToken = false;
  for (const [name, t] of special) {
    if (t.kind === "write") {
      const ref = { path: t.write.path, key: t.write.key };
      const base = { variable: name, from: "template" as const, ref, special: "write" as const };
      if (run !== "start") {
        // Never handed on as the template's text.
        delete out[name];
        assignments.push({
          ...base,
          status: "skipped",
          reason: run === "dry-run"
            ? "would write; not sent in a dry run"
            : "sent once at start, not repeated",
        });
        continue;
      }
      try {
        const got = written.get(writeKey(t))!;
        if (got instanceof Error) throw got;
        out[name] = checked(name, answerValue(got, t.write), ref);
        assignments.push({ ...base, status: "ok", masked: MASK });
      } catch (e) {
        assignments.push({ ...base, status: "failed", reason: reasonOf(e) });
      }
      continue;
    }
    const base = loginAssignment(name);
    if (run === "dry-run") {
      assignments.push({ ...base, status: "ok", masked: MASK });
      continue;
    }
    try {
      if (!source.token) {
        throw new Error(`${LOGIN_VALUE} needs the store; ${source.name} has no token to give`);
      }
      token ??= source.token(o.signal);
      out[name] = await token;
      gaveToken = true;
      assignments.push({ ...base, status: "ok", masked: MASK });
    } catch (e) {
      assignments.push({ ...base, status: "failed", reason: reasonOf(e) });
    }
  }
  return { writes: written.size, gaveToken };
}

/** Which writes are one: the same path and the same body. */
function writeKey(t: EnvTemplate): string {
  return t.kind === "write" ? `${t.write.path}\0${t.write.body}` : "";
}

/** Sends every distinct write, at most `concurrency` at a time; failures are kept as values. */
function writeAll(wanted: Array<[string, WriteRef]>, source: SecretSource, o: ResolveOptions) {
  return settleAll(wanted, o, async ({ path, body }) => {
    if (!source.write) {
      throw new Error(`a write reference needs the store; ${source.name} cannot answer writes`);
    }
    const answer = await source.write(path, body, o.signal);
    o.logger.debug("sent a write", { path });
    return answer;
  });
}

/** `data.<key>` of a write's answer; a missing key names the ones the answer has. */
function answerValue(secret: Secret, w: WriteRef): string {
  if (!Object.hasOwn(secret.data, w.key)) {
    const keys = Object.keys(secret.data);
    throw new TypeError(
      `the answer of the write to ${w.path} has no key ${quote(w.key)} (it has ${
        keys.length ? keys.slice(0, 12).map(quote).join(", ") : "no keys"
      })`,
    );
  }
  const v = secret.data[w.key];
  return typeof v === "string" ? v : JSON.stringify(v);
}

function loginAssignment(variable: string) {
  return {
    variable,
    from: "template" as const,
    ref: { path: "" as StorePath, key: "" },
    special: "login" as const,
  };
}

function loginRefused(): string {
  return `it would give the app the injector's store token, which this installation does not allow (${SETTINGS_ENV.allowLoginToken} is not true; chart value injector.allowLoginToken)`;
}

/** Reads every wanted secret, at most `concurrency` at a time; failures are kept as values. */
function readAll(wanted: Array<[string, PathImport]>, source: SecretSource, o: ResolveOptions) {
  return settleAll(wanted, o, async ({ path, version }) => {
    const secret = await source.read(path, version, o.signal);
    o.logger.debug("read secret", { path, version });
    return secret;
  });
}

/** `request` for each item by key, a bounded number at a time, each failure kept as its
 * result so one does not hide the others. */
async function settleAll<T>(
  wanted: Array<[string, T]>,
  o: ResolveOptions,
  request: (item: T) => Promise<Secret>,
): Promise<Map<string, Secret | Error>> {
  const results = new Map<string, Secret | Error>();
  await mapBounded(wanted, o.concurrency ?? 8, async ([key, item]) => {
    try {
      results.set(key, await request(item));
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
    if (e.kind === "not_found" && e.key !== undefined) {
      return `key "${e.key}" not found in ${e.path}`;
    }
    return `${e.kind.replaceAll("_", " ")}: ${e.message}${
      mayHaveApplied(e) ? " (not retried: the store may have applied the write)" : ""
    }`;
  }
  return e instanceof Error ? e.message : String(e);
}

/** A write that failed after it may have reached the store: a 5xx, no answer in time, a
 * connection lost after sending, an answer not understood. A 4xx is a refusal, nothing done. */
function mayHaveApplied(e: StoreError): boolean {
  if (e.operation !== "write") return false;
  if (e.kind === "unreachable") {
    return !(e.details.cause instanceof TransportError && e.details.cause.notSent);
  }
  return e.kind === "server_error" || e.kind === "timeout" || e.kind === "bad_response";
}

/** How messages and the dry-run report name what a variable refers to; never a value or a
 * write's body. */
export function describeRef(a: Assignment): string {
  if (a.special === "login") return LOGIN_VALUE;
  if (a.special === "write") return `>>${refName(a.ref)}`;
  if (a.ref.path === "") return "(malformed template)";
  return a.from === "env-from-path" && a.ref.key === "*"
    ? `${a.ref.path}${a.ref.version !== undefined ? `#${a.ref.version}` : ""} (env-from-path)`
    : refName(a.ref);
}
