/** Admin calls to the test kube-apiserver, used by the harness and by tests. */

export interface KubeApi {
  /** Calls the API as admin; throws on a non-2xx answer unless `allow` lists the status. */
  api<T = Record<string, unknown>>(
    method: string,
    path: string,
    body?: unknown,
    allow?: number[],
  ): Promise<T>;
  /** A fresh ServiceAccount token from TokenRequest (what the kubelet mounts into Pods). */
  tokenFor(namespace: string, serviceAccount: string, audiences?: string[]): Promise<string>;
  close(): void;
}

/** A client for `url` trusting `caCert`, authenticated with `adminToken`. */
export function kubeApi(url: string, caCert: string, adminToken: string): KubeApi {
  const client = Deno.createHttpClient({ caCerts: [caCert] });
  const api = async <T>(
    method: string,
    path: string,
    body?: unknown,
    allow: number[] = [],
  ): Promise<T> => {
    const r = await fetch(url + path, {
      method,
      client,
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: body === undefined ? null : JSON.stringify(body),
    });
    const text = await r.text();
    if (!r.ok && !allow.includes(r.status)) {
      throw new Error(`kube-apiserver ${method} ${path}: HTTP ${r.status}: ${text.slice(0, 500)}`);
    }
    return parseLenient(text) as T;
  };
  return {
    api,
    async tokenFor(namespace, serviceAccount, audiences) {
      const res = await api<{ status: { token: string } }>(
        "POST",
        `/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}/token`,
        {
          apiVersion: "authentication.k8s.io/v1",
          kind: "TokenRequest",
          spec: { expirationSeconds: 600, ...(audiences ? { audiences } : {}) },
        },
      );
      return res.status.token;
    },
    close: () => client.close(),
  };
}

/** JSON when the answer is JSON (most of the API), the text itself otherwise (/readyz). */
function parseLenient(text: string): unknown {
  if (!text) return {};
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
