/** The CA of the cluster's own Stronghold, for connectionConfiguration
 * DiscoverLocalStronghold: Secret d8-stronghold/stronghold-tls, key ca.crt. Read at start and
 * kept (lib/sys/kept_value.ts): a cluster without Stronghold still runs the roles, which then
 * refuse only the workloads that need this CA, naming the Secret. */
import { z } from "zod";
import {
  type ConnectionSettings,
  currentDefaults,
  LOCAL_STRONGHOLD,
  localCaMissing,
  needsLocalCa,
  type StoreDefaults,
} from "../config/connection.ts";
import type { Logger } from "../log/logger.ts";
import { KeptValue, type Timers } from "../sys/kept_value.ts";
import { namespacedObjectPath, SECRETS } from "./api_path.ts";
import { type KubeClient, KubeError } from "./client.ts";

/** How soon a missing CA is looked for again, at most how long between two looks, and how
 * often a known one is read again so that a renewed CA is picked up. */
export const CA_RETRY = { firstMs: 5_000, maxMs: 5 * 60_000, refreshMs: 10 * 60_000 };

const SECRET = `${LOCAL_STRONGHOLD.caSecret.namespace}/${LOCAL_STRONGHOLD.caSecret.name}`;

/** Reads the CA; the error says what was wrong with the Secret, never its content. */
export async function readStrongholdCa(kube: Pick<KubeClient, "get">): Promise<string> {
  const { namespace, name, key } = LOCAL_STRONGHOLD.caSecret;
  const secret = await kube.get(
    namespacedObjectPath(SECRETS, { field: "Stronghold CA namespace", value: namespace }, {
      field: "Stronghold CA Secret",
      value: name,
    }),
    z.object({ data: z.record(z.string(), z.string()).optional() }),
  ).catch((e) => {
    throw new Error(
      e instanceof KubeError && e.status === 404
        ? `Secret ${SECRET} does not exist`
        : e instanceof KubeError && e.status === 403
        ? `reading Secret ${SECRET} is forbidden (the chart makes the Role for it when namespace ${namespace} exists: strongholdCaRole)`
        : `cannot read Secret ${SECRET}: ${(e as Error).message}`,
    );
  });
  const b64 = secret.data?.[key];
  if (!b64) throw new Error(`Secret ${SECRET} has no key ${key}`);
  let pem: string;
  try {
    pem = new TextDecoder("utf-8", { fatal: true }).decode(
      Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)),
    );
  } catch {
    throw new Error(`key ${key} of Secret ${SECRET} is not base64 of UTF-8 text`);
  }
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) {
    throw new Error(`key ${key} of Secret ${SECRET} holds no PEM certificate`);
  }
  return pem;
}

/** The store defaults as of now, and a way to stop keeping them. */
export interface KeptDefaults {
  current: () => StoreDefaults;
  /** Whether the defaults have a CA to offer (always, unless DiscoverLocalStronghold's is
   * missing). */
  caKnown: () => boolean;
  /** Resolves once a read in flight has ended. */
  settled(): Promise<void>;
  close(): void;
}

export interface KeepOptions {
  kube: Pick<KubeClient, "get">;
  logger: Logger;
  /** Told of each change of caKnown(), and once at start. */
  onCaKnown?: (known: boolean) => void;
  timers?: Timers;
}

/** The defaults of `settings`; when they take Stronghold's CA, it is read before this
 * resolves (within the client's deadline) and kept up to date from then on. */
export async function keepStoreDefaults(
  settings: ConnectionSettings,
  o: KeepOptions,
): Promise<KeptDefaults> {
  if (!needsLocalCa(settings)) {
    o.onCaKnown?.(true);
    const current = currentDefaults(settings);
    return { current, caKnown: () => true, settled: () => Promise.resolve(), close: () => {} };
  }
  const { key } = LOCAL_STRONGHOLD.caSecret;
  // A known CA is never lost again (a failed re-read keeps it), so this changes once at most.
  let known = false;
  let started = false;
  const ca: KeptValue<string> = new KeptValue({
    read: () => readStrongholdCa(o.kube),
    firstRetryMs: CA_RETRY.firstMs,
    maxRetryMs: CA_RETRY.maxMs,
    refreshMs: CA_RETRY.refreshMs,
    warn: (reason, kept) =>
      kept
        ? o.logger.warn("Stronghold's CA could not be read again; the last one read is kept", {
          secret: SECRET,
          key,
          error: reason,
        })
        : o.logger.warn(localCaMissing(reason), { secret: SECRET, key }),
    changed: (now) => {
      if (now.known === known) return;
      known = now.known;
      if (!started) return;
      o.logger.info("Stronghold's CA read", { secret: SECRET, key });
      o.onCaKnown?.(known);
    },
    ...(o.timers ? { timers: o.timers } : {}),
  });
  await ca.start();
  started = true;
  o.onCaKnown?.(known);
  return {
    current: currentDefaults(settings, () => ca.current),
    caKnown: () => ca.current.known,
    settled: () => ca.settled(),
    close: () => ca.close(),
  };
}
