/** The CA of the cluster's own Stronghold, for connectionConfiguration
 * DiscoverLocalStronghold: Secret d8-stronghold/stronghold-tls, key ca.crt. */
import { z } from "zod";
import { LOCAL_STRONGHOLD } from "../config/connection.ts";
import { namespacedObjectPath, SECRETS } from "./api_path.ts";
import type { KubeClient } from "./client.ts";

/** Reads the CA; the error says which Secret is needed and why. */
export async function readStrongholdCa(kube: KubeClient): Promise<string> {
  const { namespace, name, key } = LOCAL_STRONGHOLD.caSecret;
  const secret = await kube.get(
    namespacedObjectPath(SECRETS, { field: "Stronghold CA namespace", value: namespace }, {
      field: "Stronghold CA Secret",
      value: name,
    }),
    z.object({ data: z.record(z.string(), z.string()) }),
  ).catch((e) => {
    throw new Error(
      `connectionConfiguration DiscoverLocalStronghold needs the CA in Secret ${namespace}/${name}: ${
        (e as Error).message
      }`,
    );
  });
  const b64 = secret.data[key];
  if (!b64) throw new Error(`Secret ${namespace}/${name} has no key ${key}`);
  return new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
}
