/** An in-memory Vault-compatible store behind the Transport interface, for unit tests of the
 * CSI driver's pool and volumes (lib/csi/*_test.ts): Kubernetes login, KV v2 reads. */
import type { HttpResult, Transport } from "../../lib/http/transport.ts";

/** Login accepts the JWTs in `accepted` (each for one role); a read needs a store token it
 * issued and has not revoked, and answers from `secrets` (by path, without `v1/`), or with
 * `failing.get(path)` as the HTTP status. Every request is recorded. */
export class FakeStore {
  readonly accepted = new Map<string, string>(); // jwt -> role
  readonly secrets = new Map<string, Record<string, string>>();
  readonly failing = new Map<string, number>();
  readonly logins: string[] = []; // the JWTs tried, in order
  readonly reads: string[] = []; // the store tokens reads came with
  readonly readPaths: string[] = [];
  readonly issued = new Set<string>();
  readonly revoked: string[] = []; // the store tokens revoke-self came with, in order
  transports = 0;
  inFlight = 0;
  maxInFlight = 0;
  #n = 0;

  transport(): Transport {
    this.transports++;
    return {
      request: async ({ url, headers, body }): Promise<HttpResult> => {
        this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
        try {
          // Answers arrive in a later turn, as over a socket, so requests can overlap.
          await new Promise((r) => setTimeout(r, 0));
          return this.#answer(url.pathname.replace(/^\/v1\//, ""), headers, body);
        } finally {
          this.inFlight--;
        }
      },
      close() {},
    };
  }

  #answer(path: string, headers: Record<string, string>, body?: string): HttpResult {
    if (path.endsWith("/login")) {
      const { role, jwt } = JSON.parse(body!) as { role: string; jwt: string };
      this.logins.push(jwt);
      if (this.accepted.get(jwt) !== role) return answer(403, { errors: ["permission denied"] });
      const token = `s.${++this.#n}`;
      this.issued.add(token);
      return answer(200, { auth: { client_token: token, lease_duration: 3600 } });
    }
    const token = headers["x-vault-token"] ?? "";
    if (!this.issued.has(token)) return answer(403, { errors: ["permission denied"] });
    if (path === "auth/token/revoke-self") {
      this.issued.delete(token);
      this.revoked.push(token);
      return { status: 204, body: "" };
    }
    if (path.startsWith("sys/internal/ui/mounts/")) {
      const mount = path.split("/")[4];
      return answer(200, { data: { path: `${mount}/`, type: "kv", options: { version: "2" } } });
    }
    this.reads.push(token);
    this.readPaths.push(path);
    const failure = this.failing.get(path);
    if (failure) return answer(failure, { errors: ["refused by the test"] });
    const data = this.secrets.get(path);
    if (!data) return answer(404, { errors: [] });
    return answer(200, { data: { data, metadata: { version: 1 } } });
  }
}

function answer(status: number, body: unknown): HttpResult {
  return { status, body: JSON.stringify(body) };
}
