/** Prepares the store and cluster exactly as the usage guide's "Preparing a test
 * environment" does, through the same HTTP API calls as its curl examples. */

export interface BaoAdmin {
  address: string;
  caCert: string;
  rootToken: string;
}

export interface KubeAdmin {
  url: string;
  caCert: string;
  adminToken: string;
  api<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    allow?: number[],
  ): Promise<T>;
}

/** Calls the store as root, like `curl --header "X-Vault-Token: ${VAULT_TOKEN}"`. */
export function baoApi(bao: BaoAdmin) {
  const client = Deno.createHttpClient({ caCerts: [bao.caCert] });
  return async (
    method: string,
    path: string,
    body?: unknown,
    namespace?: string,
  ): Promise<Record<string, unknown>> => {
    const headers: Record<string, string> = { "x-vault-token": bao.rootToken };
    if (namespace) headers["x-vault-namespace"] = namespace;
    const r = await fetch(`${bao.address}/v1/${path}`, {
      method,
      client,
      headers,
      body: body === undefined ? null : JSON.stringify(body),
    });
    const text = await r.text();
    if (!r.ok) {
      throw new Error(`OpenBao ${method} ${path}: HTTP ${r.status}: ${text.slice(0, 300)}`);
    }
    return text ? JSON.parse(text) : {};
  };
}

/** The live store tokens that logins at auth/<mount>/login made for `role`, found with the
 * root token through the accessor list (the store's own record, not the client's word). */
export async function liveTokens(bao: BaoAdmin, mount: string, role: string): Promise<number> {
  const api = baoApi(bao);
  const list = await api("GET", "auth/token/accessors?list=true");
  let n = 0;
  for (const accessor of (list.data as { keys: string[] }).keys) {
    // A token that expires or is revoked between the list and the lookup is not live.
    const t = await api("POST", "auth/token/lookup-accessor", { accessor }).catch(() => undefined);
    const d = t?.data as { path?: string; meta?: { role?: string } | null } | undefined;
    if (d?.path === `auth/${mount}/login` && d.meta?.role === role) n++;
  }
  return n;
}

/** The guide's secret values, for assertions. */
export const GUIDE = {
  mount: "demo-kv",
  secretPath: "demo-kv/data/myapp-secret",
  data: { DB_USER: "username", DB_PASS: "secret-password" },
  commonPath: "demo-kv/data/common-secret",
  common: { DB_USER: "common-user", LOG_FORMAT: "json", REGION: "eu-1" },
  policy: "myapp-ro-policy",
  role: "myapp-role",
  namespace: "myapp-namespace",
  serviceAccount: "myapp-sa",
  authPaths: ["kubernetes_local", "remote-kube-1"],
} as const;

/** A role at `auth/kubernetes_local/role/<role>` for the guide's ServiceAccount, with
 * `fields` (policies, ttl, ...), as a test file's own role. */
export async function guideSaRole(
  bao: BaoAdmin,
  role: string,
  fields: Record<string, unknown>,
): Promise<void> {
  await baoApi(bao)("PUT", `auth/kubernetes_local/role/${role}`, {
    bound_service_account_names: GUIDE.serviceAccount,
    bound_service_account_namespaces: GUIDE.namespace,
    ...fields,
  });
}

/** Enables a Kubernetes auth mount pointed at the test apiserver (what Stronghold does for
 * kubernetes_local by itself, and what the guide does by hand for remote clusters). */
export async function enableKubeAuth(
  bao: BaoAdmin,
  kube: KubeAdmin,
  path: string,
  namespace?: string,
): Promise<void> {
  const api = baoApi(bao);
  await api("POST", `sys/auth/${path}`, { type: "kubernetes" }, namespace);
  await api("PUT", `auth/${path}/config`, {
    kubernetes_host: kube.url,
    kubernetes_ca_cert: kube.caCert,
    // The reviewer credential OpenBao uses for TokenReview (the guide's "static token" option).
    token_reviewer_jwt: kube.adminToken,
    disable_local_ca_jwt: true,
  }, namespace);
}

/** Runs the guide's preparation steps; idempotent only on a fresh server. */
export async function prepareGuideStore(bao: BaoAdmin, kube: KubeAdmin): Promise<void> {
  const api = baoApi(bao);
  await api("POST", "sys/mounts/demo-kv", { type: "kv", options: { version: "2" } });
  await api("PUT", "demo-kv/data/myapp-secret", { data: GUIDE.data });
  for (const path of GUIDE.authPaths) await enableKubeAuth(bao, kube, path);
  await api("PUT", "sys/policies/acl/myapp-ro-policy", {
    policy: 'path "demo-kv/data/myapp-secret" {\n  capabilities = ["read"]\n}\n',
  });
  // The guide's myapp1 example also imports demo-kv/data/common-secret, which its policy
  // does not cover; a second policy grants it, leaving the guide's own policy as written.
  await api("PUT", "demo-kv/data/common-secret", { data: GUIDE.common });
  await api("PUT", "sys/policies/acl/myapp-common-policy", {
    policy: 'path "demo-kv/data/common-secret" {\n  capabilities = ["read"]\n}\n',
  });
  for (const path of GUIDE.authPaths) {
    await api("PUT", `auth/${path}/role/myapp-role`, {
      bound_service_account_names: "myapp-sa",
      bound_service_account_namespaces: "myapp-namespace",
      policies: "myapp-ro-policy,myapp-common-policy",
      ttl: "10m",
    });
  }
  await kube.api("POST", "/api/v1/namespaces", { metadata: { name: GUIDE.namespace } });
  await kube.api("POST", `/api/v1/namespaces/${GUIDE.namespace}/serviceaccounts`, {
    metadata: { name: GUIDE.serviceAccount },
  });
}
