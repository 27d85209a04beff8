/** The installation's store connection: the module settings of the usage guide. Pod
 * annotations and SecretsStoreImport fields override these per workload. */
import { z } from "zod";
import { ALLOW_INSECURE_HTTP_SETTING, parseStoreAddress } from "./store_address.ts";
import type { StorePath } from "./store_path.ts";
import { StorePathSchema } from "./store_path_schema.ts";

export const LOCAL_STRONGHOLD = {
  url: "https://stronghold.d8-stronghold.svc:8300",
  caSecret: { namespace: "d8-stronghold", name: "stronghold-tls", key: "ca.crt" },
  authPath: "kubernetes_local" as StorePath,
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
    /** Checked with allowInsecureHttp in checkConnection(). */
    url: z.string().optional(),
    authPath: StorePathSchema.optional(),
    caCert: Pem.optional(),
    namespace: z.string().optional(),
    /** Plain http to the store, for test installations only: off unless set, and every
     * component that uses it says so loudly. */
    allowInsecureHttp: z.boolean().default(false),
  }).strict().default({ allowInsecureHttp: false }),
};

/** Rules across fields, for schemas that embed connectionShape. */
export function checkConnection(s: ConnectionSettings, ctx: z.RefinementCtx): void {
  if (s.connection.url !== undefined) {
    try {
      parseStoreAddress(s.connection.url, { allowInsecureHttp: s.connection.allowInsecureHttp });
    } catch (e) {
      ctx.addIssue({ code: "custom", path: ["connection", "url"], message: (e as Error).message });
    }
  }
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
  connection: {
    url?: string | undefined;
    authPath?: StorePath | undefined;
    caCert?: string | undefined;
    namespace?: string | undefined;
    allowInsecureHttp: boolean;
  };
}

/** Defaults every workload starts from, once the CA is known. */
export interface StoreDefaults {
  /** Checked (see checkConnection); workloads' own addresses are checked against
   * allowInsecureHttp where they enter. */
  address: string;
  authPath: StorePath;
  /** connection.allowInsecureHttp. */
  allowInsecureHttp: boolean;
  namespace?: string | undefined;
  /** PEM; undefined means the system CA bundle. */
  caCert?: string | undefined;
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
      allowInsecureHttp: s.connection.allowInsecureHttp,
    };
  }
  return {
    address: s.connection.url ?? LOCAL_STRONGHOLD.url,
    authPath: s.connection.authPath ?? LOCAL_STRONGHOLD.authPath,
    namespace: s.connection.namespace || undefined,
    caCert: s.connection.caCert ?? await readLocalCa(),
    allowInsecureHttp: s.connection.allowInsecureHttp,
  };
}

/** Said at start by every component whose installation allows plain http. */
export const INSECURE_HTTP_WARNING =
  `${ALLOW_INSECURE_HTTP_SETTING} is true: store addresses with plain http are accepted, and ServiceAccount tokens and secrets sent to them travel in clear`;
