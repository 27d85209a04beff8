/** The functions a template may call: a small, fixed set named as in Go templates with
 * Sprig (the library the replaced module's templates use) and, for Vault Agent users, its
 * consul-template names as aliases. None can reach the file system, the network, the
 * environment or the clock: each is a pure function of its arguments. docs/inject.md lists
 * them with examples. */
import { decodeBase64Strict } from "../sys/base64_decode.ts";
import { asText, toYaml, type Value } from "./render_value.ts";

/** A value a function is given: data, a literal, or a field the data does not have. */
export type Arg = Value | Missing;

/** A field or key the data does not have. Only `default` takes it; anywhere else it is the
 * error "no field", at the field's position. */
export class Missing {
  constructor(readonly at: number, readonly what: string) {}
}

/** A function's own failure; the engine adds the subject and the position. */
export class FunctionError extends Error {}

export interface TemplateFunction {
  /** Arguments, the piped value included (it comes last, as in Go templates). */
  min: number;
  max: number;
  /** True when a missing field is a meaningful argument (`default`). */
  takesMissing?: boolean;
  /** Values whose nesting the engine checks before the call (JSON and YAML rendering). */
  walks?: boolean;
  /** `at` is the call's offset, for the Missing a lookup returns. */
  call(args: Arg[], at: number): Arg;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

/** Go's `empty`: the zero value of its type, or missing. */
export function isEmptyValue(v: Arg): boolean {
  if (v instanceof Missing || v === null || v === "" || v === 0 || v === false) return true;
  if (Array.isArray(v)) return v.length === 0;
  return typeof v === "object" && Object.keys(v).length === 0;
}

const text = (v: Arg) => asText(v as Value);

function b64enc([v]: Arg[]): string {
  const bytes = encoder.encode(text(v!));
  let binary = "";
  // Chunks keep String.fromCharCode's argument list short for a large value.
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

function b64dec([v]: Arg[]): string {
  const bytes = decodeBase64Strict(text(v!));
  if (!bytes) throw new FunctionError("the value is not valid base64");
  try {
    return utf8.decode(bytes);
  } catch {
    throw new FunctionError(
      "the decoded bytes are not UTF-8 text (a binary file needs decodeBase64 instead)",
    );
  }
}

/** Go's url.QueryEscape: unreserved characters stay, a space becomes "+", the rest %XX. */
function urlquery([v]: Arg[]): string {
  let out = "";
  for (const b of encoder.encode(text(v!))) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-_.~]/.test(c)) out += c;
    else if (c === " ") out += "+";
    else out += "%" + b.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

/** Go's `index`: `index . "my-key"` reads a key that is not a valid field name; a list takes a
 * whole number. A key the map does not have is Missing, so `default` can follow. The key may
 * come from the data, so no message names it: the position does. */
function index(args: Arg[], at: number): Arg {
  let v: Arg = args[0] as Arg;
  for (const k of args.slice(1)) {
    if (Array.isArray(v)) {
      if (typeof k !== "number" || !Number.isInteger(k)) {
        throw new FunctionError("a list takes a whole number as index");
      }
      if (k < 0 || k >= v.length) {
        return new Missing(at, `index out of range (list of ${v.length})`);
      }
      v = v[k]!;
    } else if (v !== null && typeof v === "object" && !(v instanceof Missing)) {
      if (typeof k !== "string") throw new FunctionError("a map takes a string as key");
      if (!Object.hasOwn(v, k)) return new Missing(at, "no such key in the map");
      v = Object.getOwnPropertyDescriptor(v, k)!.value as Value;
    } else {
      throw new FunctionError(`cannot index a ${kindOf(v)}`);
    }
  }
  return v;
}

/** How messages name a value's type, never its content. */
export function kindOf(v: Arg): string {
  if (v instanceof Missing) return "missing value";
  if (v === null) return "null";
  if (Array.isArray(v)) return "list";
  return typeof v === "object" ? "map" : typeof v;
}

const one = (call: (args: Arg[]) => Value, walks = false): TemplateFunction => ({
  min: 1,
  max: 1,
  walks,
  call,
});

const base64Encode = one(b64enc);
const base64Decode = one(b64dec);
const json = one(([v]) => JSON.stringify(v), true);
const prettyJson = one(([v]) => JSON.stringify(v, null, 2), true);
const yaml = one(([v]) => toYaml(v as Value), true);
const trim = one(([v]) => text(v!).trim());

/** By name; a Map, so no name reaches Object.prototype ("constructor" is unknown). */
export const FUNCTIONS: ReadonlyMap<string, TemplateFunction> = new Map<string, TemplateFunction>([
  ["b64enc", base64Encode],
  ["base64Encode", base64Encode],
  ["b64dec", base64Decode],
  ["base64Decode", base64Decode],
  ["toJson", json],
  ["toJSON", json],
  ["toPrettyJson", prettyJson],
  ["toJSONPretty", prettyJson],
  ["toYaml", yaml],
  ["toYAML", yaml],
  ["quote", one(([v]) => JSON.stringify(text(v!)))],
  ["squote", one(([v]) => `'${text(v!)}'`)],
  ["trim", trim],
  ["trimSpace", trim],
  ["trimPrefix", {
    min: 2,
    max: 2,
    call: ([p, v]) => {
      const s = text(v!);
      const prefix = text(p!);
      return s.startsWith(prefix) ? s.slice(prefix.length) : s;
    },
  }],
  ["trimSuffix", {
    min: 2,
    max: 2,
    call: ([p, v]) => {
      const s = text(v!);
      const suffix = text(p!);
      return suffix && s.endsWith(suffix) ? s.slice(0, s.length - suffix.length) : s;
    },
  }],
  ["urlquery", one(urlquery)],
  ["index", { min: 2, max: 8, call: index }],
  ["default", {
    min: 2,
    max: 2,
    takesMissing: true,
    call: ([fallback, given]) => isEmptyValue(given!) ? fallback! : given!,
  }],
]);
