/** The installation's store connection: the module settings of the usage guide. Pod
 * annotations and SecretsStoreImport fields override these per workload. */
import { z } from "zod";

export const LOCAL_STRONGHOLD = {
  url: "https://stronghold.d8-stronghold.svc:8300",
  caSecret: { namespace: "d8-stronghold", name: "stronghold-tls", key: "ca.crt" },
  authPath: "kubernetes_local",
} as const;

const Pem = z.string().refine((s) => s.includes("-----BEGIN CERTIFICATE-----"), {
  message: "must be a PEM certificate (-----BEGIN CERTIFICATE-----)",
});

/** Fields of the connection settings, for schemas that embed them. */
export const connectionShape = {
  connectionConfiguration: z.enum(["DiscoverLocalStronghold", "Manual"]).default(
    "DiscoverLocalStronghold",
  ),
  connection: z.object({
    url: z.url({ protocol: /^https$/, error: "must be an https:// URL" }).optional(),
    authPath: z.string().min(1).optional(),
    caCert: Pem.optional(),
    namespace: z.string().optional(),
  }).strict().default({}),
};

/** Rules across fields, for schemas that embed connectionShape. */
export function checkConnection(s: ConnectionSettings, ctx: z.RefinementCtx): void {
  if (s.connectionConfiguration === "Manual" && !s.connection.url) {
    ctx.addIssue({
      code: "custom",
      path: ["connection", "url"],
      message: "is required with connectionConfiguration: Manual",
    });
  }
}

export const ConnectionSettingsSchema = z.object(connectionShape).superRefine(checkConnection);

export interface ConnectionSettings {
  connectionConfiguration: "DiscoverLocalStronghold" | "Manual";
  connection: { url?: string; authPath?: string; caCert?: string; namespace?: string };
}

/** Defaults every workload starts from, once the CA is known. */
export interface StoreDefaults {
  address: string;
  authPath: string;
  namespace?: string;
  /** PEM; undefined means the system CA bundle. */
  caCert?: string;
}

/** Resolves the settings into defaults; `readLocalCa` fetches Stronghold's CA for
 * DiscoverLocalStronghold (from Secret d8-stronghold/stronghold-tls, key ca.crt). */
export async function storeDefaults(
  s: ConnectionSettings,
  readLocalCa: () => Promise<string>,
): Promise<StoreDefaults> {
  if (s.connectionConfiguration === "Manual") {
    return {
      address: s.connection.url!,
      authPath: s.connection.authPath ?? LOCAL_STRONGHOLD.authPath,
      namespace: s.connection.namespace || undefined,
      caCert: s.connection.caCert,
    };
  }
  return {
    address: s.connection.url ?? LOCAL_STRONGHOLD.url,
    authPath: s.connection.authPath ?? LOCAL_STRONGHOLD.authPath,
    namespace: s.connection.namespace || undefined,
    caCert: s.connection.caCert ?? await readLocalCa(),
  };
}

/** zod issues as one line: `connection.url: must be an https:// URL; ...`. */
export function describeIssues(issues: z.core.$ZodIssue[]): string {
  return issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
}
