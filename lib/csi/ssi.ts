/** The SecretsStoreImport custom resource (deckhouse.io/v1alpha1), validated with the same
 * rules as its CRD so the driver never trusts the API server alone. */
import { z } from "zod";
import type { Resource } from "../kube/api_path.ts";
import type { StorePath } from "../config/store_path.ts";
import { StorePathSchema } from "../config/store_path_schema.ts";
import { compileTemplate, DEFAULT_LIMITS, type Template } from "../template/engine.ts";

/** NAME_MAX of Linux: a file name's limit is in bytes, so "é" counts twice. */
export const NAME_MAX_BYTES = 255;

const utf8 = new TextEncoder();

/** One path segment: the file name inside the volume. */
export const FileName = z.string()
  .min(1, "must not be empty")
  .refine(
    (n) => utf8.encode(n).length <= NAME_MAX_BYTES,
    `must be at most ${NAME_MAX_BYTES} bytes in UTF-8 (a character such as "é" takes 2)`,
  )
  .refine((n) => !n.includes("/"), "must be one path segment (no '/')")
  .refine((n) => n !== "." && n !== "..", 'must not be "." or ".."')
  .refine((n) => !n.includes("\0"), "must not hold a NUL byte");

/** The CRD's maxItems: it bounds the cost of the CRD's byte-length rule on names. */
export const MAX_FILES = 1024;

/** Names a source in a file template: a Go field name, so `${.db.password}` reaches it. */
const SourceName = z.string().regex(
  /^[A-Za-z_][A-Za-z0-9_]{0,62}$/,
  "must be a name of letters, digits and _ (not starting with a digit), at most 63 characters",
);

/** Sources one file template may combine: bounded, since each is a read per rotation. */
export const MAX_SOURCES = 16;

const Source = z.object({
  path: StorePathSchema,
  version: z.number().int().positive().optional(),
});

/** A file's mode as an octal string ("0400"): permission bits only, no setuid, setgid or
 * sticky. Kept as written (the spec is saved and read back with this schema); modeOf() reads
 * it. */
export const FileMode = z.string()
  .regex(/^0?[0-7]{3}$/, 'must be an octal mode from "0000" to "0777", e.g. "0400"');

/** The file's mode bits, or undefined for the volume's default. */
export function modeOf(f: { mode?: string | undefined }): number | undefined {
  return f.mode === undefined ? undefined : parseInt(f.mode, 8);
}

export const SsiFile = z.object({
  name: FileName,
  decodeBase64: z.boolean().default(false),
  /** One key of one secret, or (without key, with `format`) the whole secret. */
  source: z.object({
    path: StorePathSchema,
    key: z.string().min(1).optional(),
    version: z.number().int().positive().optional(),
  }).optional(),
  /** How a whole secret is written. */
  format: z.enum(["json", "yaml"]).optional(),
  /** Named sources for `template`. */
  sources: z.record(SourceName, Source).optional(),
  /** The file's content, a template over `sources` (lib/template/engine.ts). */
  template: z.string().min(1).max(DEFAULT_LIMITS.maxTemplateChars).optional(),
  mode: FileMode.optional(),
}).superRefine((f, ctx) => {
  const issue = (path: string, message: string) =>
    ctx.addIssue({ code: "custom", path: [path], message });
  if (f.template !== undefined || f.sources !== undefined) {
    if (f.source) issue("source", "a file has either source or template with sources, not both");
    if (f.template === undefined) issue("template", "sources need a template");
    const n = Object.keys(f.sources ?? {}).length;
    if (n === 0) issue("sources", "a template needs at least one source");
    if (n > MAX_SOURCES) issue("sources", `must name at most ${MAX_SOURCES} sources`);
    if (f.decodeBase64) issue("decodeBase64", "applies to one key, not to a template");
    if (f.format) issue("format", "applies to a whole secret, not to a template");
    if (f.template !== undefined) {
      try {
        templateOf(f);
      } catch (e) {
        issue("template", (e as Error).message);
      }
    }
    return;
  }
  if (!f.source) return issue("source", "a file needs source, or template with sources");
  if (f.source.key === undefined) {
    if (!f.format) {
      issue("format", 'a source without key is the whole secret: set format "json" or "yaml"');
    }
    if (f.decodeBase64) issue("decodeBase64", "applies to one key, not to a whole secret");
  } else if (f.format) {
    issue("format", "applies to a whole secret: remove source.key, or format");
  }
});

/** Templates parsed once per file spec (the schema's check parses them), reused by every
 * rendering of that spec; a spec read back from the state file is parsed on first use. */
const compiled = new WeakMap<object, Template>();

/** The parsed template of a file with one; errors name the file. */
export function templateOf(f: { name: string; template?: string | undefined }): Template {
  let t = compiled.get(f);
  if (!t) {
    t = compileTemplate(f.template ?? "", { subject: `file "${f.name}"` });
    compiled.set(f, t);
  }
  return t;
}

/** The secrets a file is made from: its source, or every source of its template. */
export function sourcesOf(
  f: SsiFileSpec,
): Array<{ path: StorePath; version?: number | undefined }> {
  return f.source ? [f.source] : Object.values(f.sources ?? {});
}

export const SsiSpec = z.object({
  type: z.literal("CSI"),
  role: z.string().min(1),
  authPath: StorePathSchema.optional(),
  namespace: z.string().optional(),
  address: z.string().optional(),
  caCert: z.string().optional(),
  skipTLSVerify: z.boolean().default(false),
  audience: z.string().optional(),
  files: z.array(SsiFile).min(1, "must list at least one file")
    .max(MAX_FILES, `must list at most ${MAX_FILES} files`),
}).superRefine((s, ctx) => {
  const seen = new Set<string>();
  s.files.forEach((f, i) => {
    if (seen.has(f.name)) {
      ctx.addIssue({
        code: "custom",
        path: ["files", i, "name"],
        message: `"${f.name}" is listed twice`,
      });
    }
    seen.add(f.name);
  });
});

export const SsiSchema = z.object({
  metadata: z.object({ name: z.string(), namespace: z.string() }),
  spec: SsiSpec,
});

export type SecretsStoreImport = z.infer<typeof SsiSchema>;
export type SsiFileSpec = z.infer<typeof SsiFile>;

export const SSI_RESOURCE: Resource = {
  group: "deckhouse.io",
  version: "v1alpha1",
  plural: "secretsstoreimports",
};
