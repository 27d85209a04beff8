/** The claims of a ServiceAccount token bound to a Pod, read from the JWT's payload. The
 * signature is not checked here: the store checks it when the driver logs in with the token.
 * The claims are what the driver compares the volume context with, and the identity it logs
 * in as, so a context that names another namespace or Pod cannot pick the login. */
import { z } from "zod";

/** Who a token says it is. */
export interface TokenClaims {
  namespace: string;
  serviceAccount: { name: string; uid: string };
  pod: { name: string; uid: string };
  /** Expiry, in milliseconds since the epoch. */
  expiresAt: number;
  audiences: string[];
}

/** A token the driver cannot use; the message never holds the token. */
export class TokenClaimsError extends TypeError {
  override name = "TokenClaimsError";
}

const Claims = z.object({
  "kubernetes.io": z.object({
    namespace: z.string().min(1),
    serviceaccount: z.object({ name: z.string().min(1), uid: z.string().min(1) }),
    pod: z.object(
      { name: z.string().min(1), uid: z.string().min(1) },
      "the token is not bound to a Pod (no kubernetes.io.pod claim)",
    ),
  }, "no kubernetes.io claims (not a bound ServiceAccount token)"),
  exp: z.number("no exp claim").int().positive(),
  aud: z.union([z.string(), z.array(z.string())]).optional(),
});

/** Decodes a JWT's claims; throws TokenClaimsError saying what is wrong with it. */
export function readTokenClaims(token: string): TokenClaims {
  const parts = token.split(".");
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]+$/.test(p))) {
    throw new TokenClaimsError("is not a JWT (three base64url parts)");
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(base64url(parts[1]!)));
  } catch {
    throw new TokenClaimsError("is not a JWT (its payload is not base64url JSON)");
  }
  const r = Claims.safeParse(json);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new TokenClaimsError(
      `has invalid claims: ${i.path.join(".") || "payload"}: ${i.message}`,
    );
  }
  const k = r.data["kubernetes.io"];
  const aud = r.data.aud;
  return {
    namespace: k.namespace,
    serviceAccount: k.serviceaccount,
    pod: k.pod,
    expiresAt: r.data.exp * 1000,
    audiences: aud === undefined ? [] : typeof aud === "string" ? [aud] : aud,
  };
}

function base64url(s: string): Uint8Array {
  const b64 = s.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}
