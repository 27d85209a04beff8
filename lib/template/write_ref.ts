/** The module's two other whole-value forms:
 *
 *   >>secrets-store:<path>#<key>[#<json body>]   a write (e.g. a PKI issue): its answer's
 *                                                data.<key> becomes the value
 *   secrets-store:login                          the injector's own store token
 *
 * The body is everything after the second "#", so it may hold "#" itself; it is parsed and
 * checked here, once, and what is sent is its canonical JSON text. No message here quotes the
 * body: it may carry values (a password to set), so errors say where, never what. */
import { parseStorePath, type StorePath } from "../config/store_path.ts";
import { TemplateError } from "./error.ts";
import { WRITE_PREFIX } from "./prefix.ts";

export { WRITE_PREFIX };
export const LOGIN_VALUE = "secrets-store:login";

/** Far above a PKI issue's or a credential request's few fields, far below an environment
 * variable's 128 KiB: a body is a handful of parameters, never data. */
export const MAX_WRITE_BODY = 16 * 1024;
/** Nesting of objects and arrays in a body; no write endpoint takes more than two levels. */
export const MAX_BODY_DEPTH = 16;

/** One write: POST <path> with `body`; the value is the answer's data.<key>. */
export interface WriteRef {
  path: StorePath;
  key: string;
  /** The body as sent: canonical JSON text of an object, "{}" when none was given. Two
   * references with the same path and body are one write (whitespace aside). */
  body: string;
}

/** The write reference in `value`, which starts with WRITE_PREFIX; throws TemplateError naming
 * the variable and the problem. */
export function parseWriteRef(variable: string, value: string): WriteRef {
  const subject = `Variable ${variable}`;
  const expected =
    `expected ${WRITE_PREFIX}<path>#<key> or ${WRITE_PREFIX}<path>#<key>#<json body>`;
  const rest = value.slice(WRITE_PREFIX.length);
  const first = rest.indexOf("#");
  if (first === -1) {
    throw new TemplateError(subject, `write reference has no "#<key>", ${expected}`);
  }
  let path: StorePath;
  try {
    path = parseStorePath(rest.slice(0, first));
  } catch (e) {
    throw new TemplateError(subject, (e as Error).message);
  }
  const second = rest.indexOf("#", first + 1);
  const key = rest.slice(first + 1, second === -1 ? undefined : second);
  if (key === "") {
    throw new TemplateError(subject, `write reference to ${path} has an empty key, ${expected}`);
  }
  if (key.includes("${")) {
    throw new TemplateError(
      subject,
      `write reference to ${path}: a write takes one key of its answer, not a key template`,
    );
  }
  const body = second === -1 ? "{}" : parseBody(subject, path, rest.slice(second + 1));
  return { path, key, body };
}

/** The body's canonical text, after checking size, depth and that it is an object. */
function parseBody(subject: string, path: StorePath, text: string): string {
  const fail = (why: string): never => {
    throw new TemplateError(subject, `the JSON body of the write to ${path} ${why}`);
  };
  const bytes = new TextEncoder().encode(text).length;
  if (bytes > MAX_WRITE_BODY) fail(`is ${bytes} bytes, over the limit of ${MAX_WRITE_BODY}`);
  // Measured on the text, before parsing, so a deep structure is never built.
  if (depthOf(text) > MAX_BODY_DEPTH) fail(`nests deeper than ${MAX_BODY_DEPTH} levels`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    // V8's words are kept only where they are its own fixed text with a position: some of its
    // messages quote the body ("Unexpected token 'm', ...").
    const m = /^([A-Za-z ',{}[\]-]+) in JSON at position (\d+)/.exec((e as Error).message);
    fail(`is not valid JSON${m ? ` (${m[1]} at character ${Number(m[2]) + 1})` : ""}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    fail(`must be a JSON object ({...}), not ${describe(parsed)}`);
  }
  return JSON.stringify(parsed);
}

/** The deepest nesting of "{" and "[" outside strings; the text need not be valid JSON. */
function depthOf(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{" || c === "[") max = Math.max(max, ++depth);
    else if (c === "}" || c === "]") depth--;
  }
  return max;
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return `a ${typeof v}`;
}

/** `>>path#key`, how logs and messages name a write (never its body). */
export function writeName(ref: WriteRef): string {
  return `>>${ref.path}#${ref.key}`;
}
