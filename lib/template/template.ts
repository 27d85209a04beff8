/** Environment values that refer to the store, with the syntax of the module this product
 * replaces:
 *
 *   secrets-store:<path>#<key>[#<version>]            the whole value is one key
 *   secrets-store:<path>#<template>[#<version>]       a key template over that secret's data,
 *                                                     e.g. postgresql://${.username}@db
 *   text ${secrets-store:<path>#<key or template>[#<version>]} text
 *                                                     inline references anywhere in a value
 *   >>secrets-store:<path>#<key>[#<json body>]        a write, and secrets-store:login, the
 *                                                     injector's token (write_ref.ts)
 *
 * As in the module, a value with an inline reference is read for those only: any other text,
 * other `${...}` included, stays as it is; and the whole-value form is a template only when
 * its key holds `${`. */
import { parseStorePath, type StorePath } from "../config/store_path.ts";
import { compileTemplate, hasAction, type Template } from "./engine.ts";
import { positionOf, TemplateError } from "./error.ts";
import { LOGIN_VALUE, parseWriteRef, WRITE_PREFIX, type WriteRef } from "./write_ref.ts";

import { INLINE_PREFIX, TEMPLATE_PREFIX } from "./prefix.ts";

export { LOGIN_VALUE, WRITE_PREFIX, writeName, type WriteRef } from "./write_ref.ts";

export { TemplateError } from "./error.ts";
export { INLINE_PREFIX, isEnvTemplate, TEMPLATE_PREFIX } from "./prefix.ts";

/** One reference to a secret in the store: one key of it, or a key template over its data. */
export interface SecretRef {
  path: StorePath;
  /** The key, or the key template's text. */
  key: string;
  version?: number | undefined;
  /** Set when `key` is a template: rendered against the secret's data. */
  template?: Template | undefined;
}

/** A value that refers to the store: one reference for the whole value, text with inline
 * references between its parts, a write, or the injector's token. */
export type EnvTemplate =
  | { kind: "whole"; ref: SecretRef }
  | { kind: "inline"; parts: Array<string | SecretRef> }
  | { kind: "write"; write: WriteRef }
  | { kind: "login" };

/** The references in `value`, or undefined when it refers to nothing; throws TemplateError
 * naming the variable, the position where known, and the problem. */
export function parseEnvValue(variable: string, value: string): EnvTemplate | undefined {
  // First: a write's JSON body is literal text, even where it holds "${secrets-store:".
  if (value.startsWith(WRITE_PREFIX)) {
    return { kind: "write", write: parseWriteRef(variable, value) };
  }
  if (value === LOGIN_VALUE) return { kind: "login" };
  if (value.includes(INLINE_PREFIX)) return { kind: "inline", parts: inlineParts(variable, value) };
  if (!value.startsWith(TEMPLATE_PREFIX)) return undefined;
  return { kind: "whole", ref: parseRef(variable, value, 0, value.length) };
}

/** The reference of a value that is one whole reference, or undefined. */
export function parseTemplate(variable: string, value: string): SecretRef | undefined {
  if (!value.startsWith(TEMPLATE_PREFIX)) return undefined;
  return parseRef(variable, value, 0, value.length);
}

/** Every read reference of a parsed value, in order (none for a write or the token). */
export function refsOf(t: EnvTemplate): SecretRef[] {
  if (t.kind === "whole") return [t.ref];
  if (t.kind === "inline") return t.parts.filter((p): p is SecretRef => typeof p !== "string");
  return [];
}

function inlineParts(variable: string, value: string): Array<string | SecretRef> {
  const parts: Array<string | SecretRef> = [];
  let from = 0;
  for (
    let open = value.indexOf(INLINE_PREFIX);
    open !== -1;
    open = value.indexOf(INLINE_PREFIX, from)
  ) {
    if (open > from) parts.push(value.slice(from, open));
    const close = closingBrace(value, open + 2);
    if (close === -1) {
      throw new TemplateError(
        `Variable ${variable}`,
        `unterminated "${INLINE_PREFIX}" reference: no "}" closes it`,
        positionOf(value, open),
      );
    }
    parts.push(parseRef(variable, value, open + 2, close));
    from = close + 1;
  }
  if (from < value.length) parts.push(value.slice(from));
  return parts;
}

/** The "}" that closes the reference starting at `i`: a key template's own `${...}` actions
 * (and quoted strings in them) nest inside it. -1 when there is none. */
function closingBrace(s: string, i: number): number {
  let depth = 0;
  while (i < s.length) {
    if (s.startsWith("${", i)) {
      depth++;
      i += 2;
      continue;
    }
    const c = s[i]!;
    if (depth > 0 && (c === '"' || c === "`")) {
      i = endOfString(s, i);
      if (i === -1) return -1;
      continue;
    }
    if (c === "}") {
      if (depth === 0) return i;
      depth--;
    }
    i++;
  }
  return -1;
}

function endOfString(s: string, i: number): number {
  const quote = s[i]!;
  for (let j = i + 1; j < s.length; j++) {
    if (quote === '"' && s[j] === "\\") j++;
    else if (s[j] === quote) return j + 1;
  }
  return -1;
}

/** `secrets-store:<path>#<key or template>[#<version>]` in `value.slice(start, end)`. */
function parseRef(variable: string, value: string, start: number, end: number): SecretRef {
  const text = value.slice(start, end);
  const subject = `Variable ${variable}`;
  const expected = "expected secrets-store:<path>#<key> or secrets-store:<path>#<key>#<version>";
  const body = text.slice(TEMPLATE_PREFIX.length);
  if (text === LOGIN_VALUE) {
    throw new TemplateError(
      subject,
      `${LOGIN_VALUE} must be the variable's whole value, not part of a longer one`,
    );
  }
  const hash = body.indexOf("#");
  const rest = hash === -1 ? "" : body.slice(hash + 1);
  let key: string;
  let version: string | undefined;
  if (hasAction(rest)) {
    // A key template may hold "#" itself: the version is only a "#" after its last "}".
    const last = rest.lastIndexOf("#");
    const tail = last > rest.lastIndexOf("}") ? rest.slice(last + 1) : undefined;
    key = tail === undefined ? rest : rest.slice(0, last);
    version = tail;
  } else {
    const parts = body.split("#");
    if (parts.length < 2 || parts.length > 3) {
      throw new TemplateError(
        subject,
        `template "${text}" has ${parts.length - 1} "#", ${expected}`,
      );
    }
    [, key, version] = parts as [string, string, string?];
  }
  let path: StorePath;
  try {
    path = parseStorePath(body.slice(0, hash === -1 ? body.length : hash));
  } catch (e) {
    // The path's own problem, and nothing read: a path that is not a clean store path must
    // not reach the URL (a "?" would become a query, "%2e%2e" a "..").
    throw new TemplateError(subject, (e as Error).message);
  }
  if (key === "") {
    throw new TemplateError(subject, `template "${text}" has an empty key, ${expected}`);
  }
  const keyStart = start + TEMPLATE_PREFIX.length + hash + 1;
  const template = hasAction(key)
    ? compileTemplate(value, { subject, start: keyStart, end: keyStart + key.length })
    : undefined;
  const ref: SecretRef = template ? { path, key, template } : { path, key };
  if (version === undefined) return ref;
  const n = parseVersion(version);
  if (n === undefined) {
    throw new TemplateError(
      subject,
      `template "${text}" has version "${version}", expected a positive whole number`,
    );
  }
  return { ...ref, version: n };
}

/** A KV v2 version as templates and env-from-path write it: a positive whole number. */
export function parseVersion(text: string): number | undefined {
  return /^[1-9]\d{0,8}$/.test(text) ? Number(text) : undefined;
}

/** `path#key[#version]`, how logs and messages name a reference. */
export function refName(ref: SecretRef): string {
  return `${ref.path}#${ref.key}${ref.version !== undefined ? `#${ref.version}` : ""}`;
}
