/** The `secrets-store:<path>#<key>[#<version>]` template of the contract. */
import { parseStorePath, type StorePath } from "../config/store_path.ts";

export const TEMPLATE_PREFIX = "secrets-store:";

/** One reference to a key of a secret in the store. */
export interface SecretRef {
  path: StorePath;
  key: string;
  version?: number | undefined;
}

/** A variable whose value looks like a template but cannot be one; names the variable. */
export class TemplateError extends TypeError {
  override name = "TemplateError";
  constructor(readonly variable: string, reason: string) {
    super(`Variable ${variable}: ${reason}`);
  }
}

/** The reference in `value`, or undefined when the value is not a template. Only a whole
 * value is a template: text that merely contains the prefix is left alone. */
export function parseTemplate(variable: string, value: string): SecretRef | undefined {
  if (!value.startsWith(TEMPLATE_PREFIX)) return undefined;
  const body = value.slice(TEMPLATE_PREFIX.length);
  const parts = body.split("#");
  const expected = "expected secrets-store:<path>#<key> or secrets-store:<path>#<key>#<version>";
  if (parts.length < 2 || parts.length > 3) {
    throw new TemplateError(
      variable,
      `template "${value}" has ${parts.length - 1} "#", ${expected}`,
    );
  }
  const [rawPath, key, version] = parts as [string, string, string?];
  let path: StorePath;
  try {
    path = parseStorePath(rawPath);
  } catch (e) {
    // The path's own problem, and nothing read: a path that is not a clean store path must
    // not reach the URL (a "?" would become a query, "%2e%2e" a "..").
    throw new TemplateError(variable, (e as Error).message);
  }
  if (key === "") {
    throw new TemplateError(variable, `template "${value}" has an empty key, ${expected}`);
  }
  if (version === undefined) return { path, key };
  const n = parseVersion(version);
  if (n === undefined) {
    throw new TemplateError(
      variable,
      `template "${value}" has version "${version}", expected a positive whole number`,
    );
  }
  return { path, key, version: n };
}

/** A KV v2 version as templates and env-from-path write it: a positive whole number. */
export function parseVersion(text: string): number | undefined {
  return /^[1-9]\d{0,8}$/.test(text) ? Number(text) : undefined;
}

/** `path#key[#version]`, how logs and messages name a reference. */
export function refName(ref: SecretRef): string {
  return `${ref.path}#${ref.key}${ref.version !== undefined ? `#${ref.version}` : ""}`;
}
