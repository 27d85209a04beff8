/** The installation's store connection: the module settings of the usage guide. Pod
 * annotations and SecretsStoreImport fields override these per workload. */
import { z } from "zod";
import { ALLOW_INSECURE_HTTP_SETTING, parseStoreAddress } from "./store_address.ts";
import type { StorePath } from "./store_path.ts";
import { StorePathSchema } from "./store_path_schema.ts";
import type { Kept } from "../sys/kept_value.ts";

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

/** Defaults every workload starts from. */
export interface StoreDefaults {
  /** Checked (see checkConnection); workloads' own addresses are checked against
   * allowInsecureHttp where they enter. */
  address: string;
  authPath: StorePath;
  /** connection.allowInsecureHttp. */
  allowInsecureHttp: boolean;
  namespace?: string | undefined;
  /** PEM; undefined means the system CA bundle (or, with caMissing, not known yet). */
  caCert?: string | undefined;
  /** Set while DiscoverLocalStronghold's CA is not known: what the user is told, naming the
   * Secret and the fix. A workload that relies on the installation's CA is refused then. */
  caMissing?: string | undefined;
}

/** Whether the settings take the CA from Stronghold's Secret (LOCAL_STRONGHOLD.caSecret). */
export function needsLocalCa(s: ConnectionSettings): boolean {
  return s.connectionConfiguration === "DiscoverLocalStronghold" &&
    s.connection.caCert === undefined;
}

/** What a user is told while Stronghold's CA cannot be read, and why. */
export function localCaMissing(reason: string): string {
  const { namespace, name, key } = LOCAL_STRONGHOLD.caSecret;
  return `the store's CA is not known: connectionConfiguration DiscoverLocalStronghold takes it from Secret ${namespace}/${name} key ${key}, and ${reason}; install Stronghold, or set connectionConfiguration: Manual with connection.url, or connection.caCert`;
}

/** Resolves the settings into defaults; `localCa` is Stronghold's CA as far as it is known,
 * used when needsLocalCa(). */
export function storeDefaults(s: ConnectionSettings, localCa?: Kept<string>): StoreDefaults {
  const common = {
    authPath: s.connection.authPath ?? LOCAL_STRONGHOLD.authPath,
    namespace: s.connection.namespace || undefined,
    allowInsecureHttp: s.connection.allowInsecureHttp,
  };
  if (s.connectionConfiguration === "Manual") {
    return { ...common, address: s.connection.url!, caCert: s.connection.caCert };
  }
  const address = s.connection.url ?? LOCAL_STRONGHOLD.url;
  if (s.connection.caCert !== undefined) return { ...common, address, caCert: s.connection.caCert };
  const ca = localCa ?? { known: false, reason: "not read" };
  return ca.known
    ? { ...common, address, caCert: ca.value }
    : { ...common, address, caMissing: localCaMissing(ca.reason) };
}

/** The defaults as of now, for each admission and publish: Stronghold's CA may come after
 * start. Worked out again only when `localCa()` gives another state, so reading is cheap. */
export function currentDefaults(
  s: ConnectionSettings,
  localCa?: () => Kept<string>,
): () => StoreDefaults {
  let seen = localCa?.();
  let defaults = storeDefaults(s, seen);
  return () => {
    const now = localCa?.();
    if (now !== seen) [seen, defaults] = [now, storeDefaults(s, now)];
    return defaults;
  };
}

/** Said at start by every component whose installation allows plain http. */
export const INSECURE_HTTP_WARNING =
  `${ALLOW_INSECURE_HTTP_SETTING} is true: store addresses with plain http are accepted, and ServiceAccount tokens and secrets sent to them travel in clear`;
