/** A secret's value (JSON data from the store) as text: JSON or YAML, with its depth checked
 * first, so a deeply nested answer is an error rather than a stack overflow. */

/** What a secret's data holds once parsed from the store's JSON. */
export type Value = string | number | boolean | null | Value[] | { [key: string]: Value };

/** The nesting depth of `v` (a scalar is 0), counted without recursion; stops past `limit`. */
export function depthOf(v: unknown, limit: number): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[v, 0]];
  while (stack.length) {
    const [x, d] = stack.pop()!;
    if (x === null || typeof x !== "object") continue;
    if (d + 1 > max) max = d + 1;
    if (max > limit) return max;
    for (const child of Object.values(x)) stack.push([child, d + 1]);
  }
  return max;
}

/** A value as an environment variable or a file holds it: a string as it is, anything else as
 * its JSON text (the product's rule for non-string secret values). */
export function asText(v: Value): string {
  return typeof v === "string" ? v : JSON.stringify(v);
}

/** YAML (1.2, also read right by 1.1 parsers): block style, every string double-quoted with
 * JSON's escapes (valid YAML), so no value can turn into a number, a boolean or a tag. */
export function toYaml(v: Value): string {
  if (v === null || typeof v !== "object") return scalar(v) + "\n";
  if (isEmpty(v)) return (Array.isArray(v) ? "[]" : "{}") + "\n";
  const out: string[] = [];
  block(v, 0, out);
  return out.join("");
}

function block(v: Value[] | { [key: string]: Value }, indent: number, out: string[]): void {
  const pad = " ".repeat(indent);
  const entries: Array<[string, Value]> = Array.isArray(v)
    ? v.map((x) => ["- ", x])
    : Object.entries(v).map(([k, x]) => [`${key(k)}:`, x]);
  for (const [lead, x] of entries) {
    if (x !== null && typeof x === "object" && !isEmpty(x)) {
      if (Array.isArray(v)) {
        // A list item that is itself a collection starts on the dash's line.
        const inner: string[] = [];
        block(x, indent + 2, inner);
        out.push(pad + "- " + inner.join("").slice(indent + 2));
      } else {
        out.push(pad + lead + "\n");
        block(x, indent + 2, out);
      }
      continue;
    }
    const text = x !== null && typeof x === "object" ? (Array.isArray(x) ? "[]" : "{}") : scalar(x);
    out.push(pad + (Array.isArray(v) ? lead : lead + " ") + text + "\n");
  }
}

function isEmpty(v: Value[] | { [key: string]: Value }): boolean {
  return Array.isArray(v) ? v.length === 0 : Object.keys(v).length === 0;
}

function scalar(v: string | number | boolean | null): string {
  return v === null ? "null" : JSON.stringify(v);
}

/** Keys plain when they cannot be read as anything but a string, else quoted. */
const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;
const YAML_WORDS = /^(true|false|yes|no|on|off|y|n|null)$/i;

function key(k: string): string {
  return PLAIN_KEY.test(k) && !YAML_WORDS.test(k) ? k : JSON.stringify(k);
}
