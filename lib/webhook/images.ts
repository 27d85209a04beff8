/** Entrypoints of images for containers without a command: credentials from the Pod's
 * imagePullSecrets and its ServiceAccount's, then the registry (through a cache). */
import { z } from "zod";
import { namespacedObjectPath, SECRETS, SERVICE_ACCOUNTS } from "../kube/api_path.ts";
import { type KubeClient, KubeError } from "../kube/client.ts";
import type { Pod } from "../kube/pod.ts";
import type { Logger } from "../log/logger.ts";
import { RefreshingCache } from "../sys/refreshing_cache.ts";
import { credentialsFor, type PullSecret, type RegistryCredential } from "../oci/credentials.ts";
import { parseReference } from "../oci/reference.ts";
import { ImageResolveError, type ImageResolver } from "./admission.ts";
import type { WebhookMetrics } from "./metrics.ts";
import type { ImageCommand } from "./mutate.ts";

/** The registry side, as lib/oci's ImageLookup provides it. */
export interface EntrypointSource {
  lookup(
    image: string,
    credentials: RegistryCredential[],
    signal?: AbortSignal,
  ): Promise<{ config: ImageCommand; cached: boolean }>;
  /** lookup()'s answer when it needs no registry request, else undefined. */
  cached(image: string, credentials: RegistryCredential[]): ImageCommand | undefined;
}

const SecretSchema = z.object({
  type: z.string(),
  data: z.record(z.string(), z.string()).nullish(),
  metadata: z.object({ name: z.string().optional(), namespace: z.string().optional() }),
});
const ServiceAccountSchema = z.object({
  imagePullSecrets: z.array(z.object({ name: z.string().optional() })).nullish(),
});

/** How long the pull secrets of a (namespace, ServiceAccount, secret names) are reused: a
 * rollout's Pods share them, and two API reads per admission would dominate its latency.
 * After this they are refreshed in the background, so a changed pull secret is seen within
 * two of these. Kept in memory only. */
const PULL_SECRETS_TTL_MS = 10_000;

/** Bounds on the cached pull secrets: each Pod may name its own list of them, and a Secret's
 * data is counted by its length. */
const PULL_SECRETS_ENTRIES = 1000;
const PULL_SECRETS_BYTES = 64 * 1024 * 1024;

/** Builds the resolver the admission handler calls. */
export function imageResolver(
  kube: KubeClient,
  registry: EntrypointSource,
  metrics: WebhookMetrics,
  logger: Logger,
): ImageResolver {
  // The secrets, and the credentials they give for each image (parsing a dockerconfigjson
  // per admission cost more than the rest of a cached lookup).
  const recent = new RefreshingCache<PullSecretsEntry>({
    ttlMs: PULL_SECRETS_TTL_MS,
    maxEntries: PULL_SECRETS_ENTRIES,
    maxBytes: PULL_SECRETS_BYTES,
    sizeOf: (e) =>
      e.secrets.reduce(
        (n, s) => Object.values(s.data ?? {}).reduce((m, v) => m + v.length, n),
        0,
      ),
  });

  // The same array for an image while its entry lives: the registry side keys its own
  // parsing on it.
  function credentialsOf(entry: PullSecretsEntry, image: string): RegistryCredential[] {
    let credentials = entry.credentials.get(image);
    if (!credentials) {
      credentials = credentialsFor(parseReference(image), entry.secrets);
      entry.credentials.set(image, credentials);
    }
    return credentials;
  }

  /** The entrypoints at once when the cache has them all (an admission then runs in one
   * turn of the event loop, docs/benchmarks.md), else a promise of them. */
  function entrypoints(
    entry: PullSecretsEntry,
    wanted: Array<{ container: string; image: string }>,
  ): Map<string, ImageCommand> | Promise<Map<string, ImageCommand>> {
    const out = new Map<string, ImageCommand>();
    try {
      for (const { image } of wanted) {
        if (out.has(image)) continue;
        const config = registry.cached(image, credentialsOf(entry, image));
        if (!config) return fetched(entry, wanted);
        out.set(image, config);
      }
    } catch {
      return fetched(entry, wanted); // an invalid name: fetched() says which and why
    }
    for (let i = 0; i < out.size; i++) metrics.imageLookup("cached");
    return out;
  }

  async function fetched(
    entry: PullSecretsEntry,
    wanted: Array<{ container: string; image: string }>,
  ): Promise<Map<string, ImageCommand>> {
    const out = new Map<string, ImageCommand>();
    for (const { container, image } of wanted) {
      if (out.has(image)) continue;
      try {
        const { config, cached } = await registry.lookup(image, credentialsOf(entry, image));
        metrics.imageLookup(cached ? "cached" : "fetched");
        out.set(image, config);
      } catch (e) {
        metrics.imageLookup("error");
        throw new ImageResolveError(
          `container "${container}" has no command, and the entrypoint of image "${image}" could not be read from its registry: ${
            (e as Error).message
          }. Set "command" (and "args") in the container, or give the Pod an imagePullSecret that can read the image`,
        );
      }
    }
    return out;
  }

  return (pod, namespace, wanted) => {
    const key = JSON.stringify([
      namespace,
      pod.spec.serviceAccountName ?? "",
      pod.spec.imagePullSecrets ?? [],
    ]);
    const entry = recent.get(key, async () => ({
      secrets: await pullSecrets(kube, namespace, pod, logger),
      credentials: new Map(),
    }));
    return entry instanceof Promise
      ? entry.then((e) => entrypoints(e, wanted))
      : entrypoints(entry, wanted);
  };
}

interface PullSecretsEntry {
  secrets: PullSecret[];
  /** By image name. */
  credentials: Map<string, RegistryCredential[]>;
}

/** The Pod's pull secrets, then its ServiceAccount's, as the kubelet would use them. A
 * missing one is skipped (the kubelet skips it too); a refused read is logged. The Pod's
 * names were checked at admission; the ServiceAccount's come from the API server and are
 * checked here, by the path builder. */
async function pullSecrets(
  kube: KubeClient,
  namespace: string,
  pod: Pod,
  logger: Logger,
): Promise<PullSecret[]> {
  const ns = { field: "request.namespace", value: namespace };
  const names: Array<{ field: string; value: string }> = [];
  (pod.spec.imagePullSecrets ?? []).forEach((s, i) => {
    if (s.name) names.push({ field: `spec.imagePullSecrets[${i}].name`, value: s.name });
  });
  const sa = pod.spec.serviceAccountName || "default";
  try {
    const account = await kube.get(
      namespacedObjectPath(SERVICE_ACCOUNTS, ns, { field: "spec.serviceAccountName", value: sa }),
      ServiceAccountSchema,
    );
    (account.imagePullSecrets ?? []).forEach((s, i) => {
      if (s.name && !names.some((n) => n.value === s.name)) {
        names.push({ field: `ServiceAccount ${sa} imagePullSecrets[${i}].name`, value: s.name });
      }
    });
  } catch (e) {
    if (!(e instanceof KubeError && e.status === 404)) {
      logger.warn("cannot read ServiceAccount", { namespace, sa, error: (e as Error).message });
    }
  }
  const secrets: PullSecret[] = [];
  for (const name of names) {
    try {
      secrets.push(await kube.get(namespacedObjectPath(SECRETS, ns, name), SecretSchema));
    } catch (e) {
      logger.warn("pull secret not used", {
        namespace,
        secret: name.value,
        error: (e as Error).message,
      });
    }
  }
  return secrets;
}
