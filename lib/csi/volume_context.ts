/** What the kubelet tells the driver in NodePublishVolume's volume context for an
 * ephemeral inline volume, with podInfoOnMount and tokenRequests set on the CSIDriver. */
import { z } from "zod";
import { invalid } from "./errors.ts";

export const SSI_ATTRIBUTE = "secretsStoreImport";
const K = "csi.storage.k8s.io/";

export interface PodIdentity {
  namespace: string;
  name: string;
  uid: string;
  serviceAccount: string;
}

export interface VolumeRequest {
  ssiName: string;
  pod: PodIdentity;
  /** ServiceAccount tokens by audience, fresh from the kubelet; never logged or stored. */
  tokens: Map<string, string>;
}

const Tokens = z.record(z.string(), z.object({ token: z.string().min(1) }));

/** Reads the volume context; INVALID_ARGUMENT naming what is missing and why it may be. */
export function readVolumeContext(ctx: Record<string, string>): VolumeRequest {
  const need = (key: string, hint: string) => {
    const v = ctx[key];
    if (!v) throw invalid(`volume context has no ${key}: ${hint}`);
    return v;
  };
  const ssiName = need(
    SSI_ATTRIBUTE,
    `set volumeAttributes.${SSI_ATTRIBUTE} to the name of a SecretsStoreImport in the Pod's namespace`,
  );
  if (ctx[K + "ephemeral"] !== undefined && ctx[K + "ephemeral"] !== "true") {
    throw invalid("only ephemeral inline volumes (a csi volume in the Pod spec) are supported");
  }
  const podInfo = "the CSIDriver object must set podInfoOnMount: true";
  const pod = {
    namespace: need(K + "pod.namespace", podInfo),
    name: need(K + "pod.name", podInfo),
    uid: need(K + "pod.uid", podInfo),
    serviceAccount: need(K + "serviceAccount.name", podInfo),
  };
  const tokens = new Map<string, string>();
  const raw = ctx[K + "serviceAccount.tokens"];
  if (raw) {
    let parsed: z.infer<typeof Tokens>;
    try {
      parsed = Tokens.parse(JSON.parse(raw));
    } catch {
      throw invalid(`volume context ${K}serviceAccount.tokens is not the kubelet's token map`);
    }
    for (const [audience, t] of Object.entries(parsed)) tokens.set(audience, t.token);
  }
  return { ssiName, pod, tokens };
}

/** The token for `audience` ("" is the API server's default audience). */
export function tokenFor(tokens: Map<string, string>, audience: string | undefined): string {
  const wanted = audience ?? "";
  const token = tokens.get(wanted) ??
    (wanted === "" && tokens.size === 1 ? [...tokens.values()][0] : undefined);
  if (!token) {
    const have = [...tokens.keys()].map((a) => `"${a}"`).join(", ") || "none";
    throw invalid(
      `no ServiceAccount token for audience "${wanted}" in the volume context (have: ${have}); the CSIDriver's tokenRequests must list it`,
    );
  }
  return token;
}
