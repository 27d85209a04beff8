/** What the kubelet tells the driver in NodePublishVolume's volume context for an
 * ephemeral inline volume, with podInfoOnMount and tokenRequests set on the CSIDriver. */
import { z } from "zod";
import { checkNamespace, checkObjectName, KubeNameError } from "../kube/api_path.ts";
import { CsiError, invalid, status } from "./errors.ts";
import { readTokenClaims, type TokenClaims, TokenClaimsError } from "./token_claims.ts";

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

const UID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

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
  // The kubelet writes these from the Pod object; anything else did not come from it.
  try {
    checkNamespace(`volume context ${K}pod.namespace`, pod.namespace);
    checkObjectName(`volume context ${K}pod.name`, pod.name);
    checkObjectName(`volume context ${K}serviceAccount.name`, pod.serviceAccount);
  } catch (e) {
    if (e instanceof KubeNameError) throw invalid(e.message);
    throw e;
  }
  if (!UID.test(pod.uid)) {
    throw invalid(
      `volume context ${K}pod.uid: ${JSON.stringify(pod.uid)} is not a Pod uid (a UUID)`,
    );
  }
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

/** A token of the volume context with the claims it was checked against. */
export interface BoundToken {
  jwt: string;
  claims: TokenClaims;
}

/** Checks every token of the volume context against the Pod the context names: a token that
 * is not a Pod-bound JWT is INVALID_ARGUMENT; one that is expired, for another audience
 * than its key, or whose claims disagree with the context is PERMISSION_DENIED, naming the
 * field that disagrees. Errors never hold the token. */
export function bindTokens(vr: VolumeRequest, now = Date.now()): Map<string, BoundToken> {
  const out = new Map<string, BoundToken>();
  for (const [audience, jwt] of vr.tokens) {
    const which = `volume context ${K}serviceAccount.tokens[${JSON.stringify(audience)}]`;
    let claims: TokenClaims;
    try {
      claims = readTokenClaims(jwt);
    } catch (e) {
      if (e instanceof TokenClaimsError) throw invalid(`${which} ${e.message}`);
      throw e;
    }
    const disagree = (field: string, context: string, token: string) => {
      if (context !== token) {
        throw new CsiError(
          status.PERMISSION_DENIED,
          `volume context ${K}${field} ${
            JSON.stringify(context)
          } disagrees with its ServiceAccount token (${JSON.stringify(token)})`,
        );
      }
    };
    disagree("pod.namespace", vr.pod.namespace, claims.namespace);
    disagree("serviceAccount.name", vr.pod.serviceAccount, claims.serviceAccount.name);
    disagree("pod.name", vr.pod.name, claims.pod.name);
    disagree("pod.uid", vr.pod.uid, claims.pod.uid);
    if (claims.expiresAt <= now) {
      throw new CsiError(
        status.PERMISSION_DENIED,
        `${which} expired at ${new Date(claims.expiresAt).toISOString()}`,
      );
    }
    // "" is the API server's default audience, whatever it is called there.
    if (audience !== "" && !claims.audiences.includes(audience)) {
      throw new CsiError(
        status.PERMISSION_DENIED,
        `${which} is not for audience ${JSON.stringify(audience)} (its audiences: ${
          claims.audiences.map((a) => JSON.stringify(a)).join(", ") || "none"
        })`,
      );
    }
    out.set(audience, { jwt, claims });
  }
  return out;
}

/** The token for `audience` ("" is the API server's default audience). */
export function tokenFor<T>(tokens: Map<string, T>, audience: string | undefined): T {
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
