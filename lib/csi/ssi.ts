/** The SecretsStoreImport custom resource (deckhouse.io/v1alpha1), validated with the same
 * rules as its CRD so the driver never trusts the API server alone. */
import { z } from "zod";
import type { Resource } from "../kube/api_path.ts";
import { StorePathSchema } from "../config/store_path_schema.ts";

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

export const SsiFile = z.object({
  name: FileName,
  decodeBase64: z.boolean().default(false),
  source: z.object({
    path: StorePathSchema,
    key: z.string().min(1),
    version: z.number().int().positive().optional(),
  }),
});

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
