/** The webhook's installation settings, from a YAML file (the chart renders it from its
 * values) validated with zod; a bad setting stops start-up with a message naming it. */
import { parse } from "yaml";
import { z } from "zod";
import { checkConnection, connectionShape } from "../config/connection.ts";
import { describeIssues } from "../config/issues.ts";
import { parseDuration } from "../config/duration.ts";

const Duration = z.string().refine((s) => {
  try {
    return parseDuration(s) > 0;
  } catch {
    return false;
  }
}, { message: "must be a duration like 5m or 2s" });

/** The module's default skip list (service-mesh containers that must start untouched). */
export const MESH_CONTAINERS = [
  "istio-proxy",
  "istio-init",
  "istio-validation",
  "check-linux-kernel",
] as const;

/** The server's limits (server.ts, docs/webhook.md); each default holds under the chart's
 * 384Mi memory limit with 1,000 hostile connections of any kind (docs/benchmarks.md). */
const LIMIT_DEFAULTS = {
  maxConnections: 1000,
  bodyBudgetMiB: 64,
  handshakeTimeout: "5s",
  headTimeout: "10s",
  bodyTimeout: "30s",
  idleTimeout: "120s",
};

const Limits = z.object({
  /** Open connections per serving thread. */
  maxConnections: z.number().int().min(1).max(1_000_000).default(LIMIT_DEFAULTS.maxConnections),
  /** Large request bodies being read at once, per thread; at least one of the largest (4 MiB). */
  bodyBudgetMiB: z.number().int().min(4).max(4096).default(LIMIT_DEFAULTS.bodyBudgetMiB),
  handshakeTimeout: Duration.default(LIMIT_DEFAULTS.handshakeTimeout),
  headTimeout: Duration.default(LIMIT_DEFAULTS.headTimeout),
  bodyTimeout: Duration.default(LIMIT_DEFAULTS.bodyTimeout),
  idleTimeout: Duration.default(LIMIT_DEFAULTS.idleTimeout),
}).strict().default(LIMIT_DEFAULTS);

export const WebhookSettingsSchema = z.object({
  ...connectionShape,
  injector: z.object({
    /** The product's own image; its entrypoint is the secrets-store executable. */
    image: z.string().min(1),
    imagePullPolicy: z.enum(["Always", "IfNotPresent", "Never"]).default("IfNotPresent"),
    /** How the injector reaches a Pod: `imageVolume` mounts the product image's prepared tree
     * read-only (Kubernetes 1.35+, no copy, no init container); `copy` runs copy-self in an
     * init container into an emptyDir. The chart picks imageVolume from 1.35 on. */
    delivery: z.enum(["imageVolume", "copy"]).default("copy"),
    /** Containers never mutated unless a Pod's skip-mutate-containers annotation names its
     * own list: the module's default, the service-mesh sidecars and their init containers. */
    skipContainers: z.array(z.string().min(1).max(63)).max(1000).default([...MESH_CONTAINERS]),
    /** `secrets-store:login` may give an app the injector's store token (all the role's
     * policy allows, for the token's TTL); off unless the installation turns it on. */
    allowLoginToken: z.boolean().default(false),
    /** The injector revokes its store token once the secrets are read, unless a Pod's
     * revoke-token annotation says otherwise (docs/store-load.md). */
    revokeToken: z.boolean().default(true),
  }).strict(),
  registry: z.object({
    platform: z.string().regex(/^[a-z0-9]+\/[a-z0-9]+(\/[a-z0-9]+)?$/, "must look like linux/amd64")
      .default(
        "linux/amd64",
      ),
    caCert: z.string().optional(),
    plainHttp: z.array(z.string()).default([]),
    cacheTtl: Duration.default("5m"),
    timeout: Duration.default("2s"),
  }).strict().default({ platform: "linux/amd64", plainHttp: [], cacheTtl: "5m", timeout: "2s" }),
  limits: Limits,
}).strict().superRefine(checkConnection);

export type WebhookSettings = z.infer<typeof WebhookSettingsSchema>;

/** Parses settings from YAML text; `source` names the file in errors. */
export function parseWebhookSettings(text: string, source: string): WebhookSettings {
  let raw: unknown;
  try {
    raw = parse(text) ?? {};
  } catch (e) {
    throw new TypeError(`Cannot parse ${source}: ${(e as Error).message}`);
  }
  const r = WebhookSettingsSchema.safeParse(raw);
  if (!r.success) {
    throw new TypeError(`Invalid settings in ${source}: ${describeIssues(r.error.issues)}`);
  }
  return r.data;
}
