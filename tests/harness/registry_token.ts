/** A token service for the test registry's `auth: token` mode, the Bearer flow of Docker Hub,
 * GHCR, Harbor and Quay: Basic credentials in, a JWT the registry verifies out. The
 * registry is real; only this issuer is ours, as distribution ships none. */
import { makeCa, makeLeaf } from "./pki.ts";
import type { Ca } from "./pki.ts";

export interface TokenService {
  /** URL the registry names as `realm` in its challenge. */
  realm: string;
  service: string;
  issuer: string;
  /** PEM bundle the registry trusts token signatures from (`rootcertbundle`). */
  signerCertFile: string;
  /** Every token request: who asked (undefined when anonymous) and whether it was granted. */
  requests: { user?: string | undefined; granted: boolean }[];
  stop(): Promise<void>;
}

const b64url = (bytes: Uint8Array | string) =>
  btoa(typeof bytes === "string" ? bytes : String.fromCharCode(...bytes))
    .replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");

const pemBody = (pem: string) => pem.replace(/-----[^-]+-----/g, "").replace(/\s/g, "");

/** Starts the service over TLS (a leaf of `ca`); `users` may pull and push everything. */
export async function startTokenService(
  dir: string,
  ca: Ca,
  users: Record<string, string>,
): Promise<TokenService> {
  const signer = await makeCa(dir, "token-signer"); // self-signed: the registry trusts it as a root
  const tls = await makeLeaf(dir, "token-service", ca, ["IP:127.0.0.1"]);
  const key = await crypto.subtle.importKey(
    "pkcs8",
    Uint8Array.from(atob(pemBody(await Deno.readTextFile(signer.keyFile))), (c) => c.charCodeAt(0)),
    { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const service = "test-registry";
  const issuer = "test-token-issuer";
  const requests: TokenService["requests"] = [];

  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: await Deno.readTextFile(tls.certFile),
    key: await Deno.readTextFile(tls.keyFile),
    onListen() {},
  }, async (req) => {
    const url = new URL(req.url);
    const [user, password] = basicAuth(req.headers.get("authorization"));
    if (user !== undefined && users[user] !== password) {
      requests.push({ user, granted: false });
      return Response.json({ details: "wrong credentials" }, { status: 401 });
    }
    requests.push({ user, granted: user !== undefined });
    // As the specification says: an anonymous client gets a token, just without any access.
    const access = user === undefined
      ? []
      : url.searchParams.getAll("scope").flatMap((all) => all.split(" ")).flatMap((s) => {
        const [type, name, actions] = [s.slice(0, s.indexOf(":")), ...splitScope(s)];
        return type === "repository" ? [{ type, name, actions: actions.split(",") }] : [];
      });
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: "JWT", alg: "RS256", x5c: [pemBody(signer.cert)] };
    const claims = {
      iss: issuer,
      sub: user ?? "",
      aud: url.searchParams.get("service") ?? "",
      exp: now + 300,
      nbf: now - 10,
      iat: now,
      jti: crypto.randomUUID(),
      access,
    };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = new Uint8Array(
      await crypto.subtle.sign("RSASSA-PKCS1-v1_5", key, new TextEncoder().encode(signingInput)),
    );
    return Response.json({ token: `${signingInput}.${b64url(signature)}`, expires_in: 300 });
  });

  return {
    realm: `https://127.0.0.1:${server.addr.port}/token`,
    service,
    issuer,
    signerCertFile: signer.certFile,
    requests,
    stop: () => server.shutdown(),
  };
}

/** "repository:team/app:pull,push" -> ["team/app", "pull,push"]; the name may hold no ":". */
function splitScope(scope: string): [string, string] {
  const rest = scope.slice(scope.indexOf(":") + 1);
  const last = rest.lastIndexOf(":");
  return [rest.slice(0, last), rest.slice(last + 1)];
}

function basicAuth(header: string | null): [string?, string?] {
  if (!header?.startsWith("Basic ")) return [];
  const text = atob(header.slice(6));
  const colon = text.indexOf(":");
  return [text.slice(0, colon), text.slice(colon + 1)];
}
