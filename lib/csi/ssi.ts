/** The SecretsStoreImport custom resource (deckhouse.io/v1alpha1), validated with the same
 * rules as its CRD so the driver never trusts the API server alone. */
import { z } from "zod";
import type { Resource } from "../kube/api_path.ts";
import { StorePathSchema } from "../vault/store_path.ts";

/** One path segment: the file name inside the volume. */
export const FileName = z.string()
  .min(1, "must not be empty")
  .max(255, "must be at most 255 characters")
  .refine((n) => !n.includes("/"), "must be one path segment (no '/')")
  .refine((n) => n !== "." && n !== "..", 'must not be "." or ".."')
  .refine((n) => !n.includes("\0"), "must not hold a NUL byte");

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
  files: z.array(SsiFile).min(1, "must list at least one file"),
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
