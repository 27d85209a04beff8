/** The injector's side of a test: the variables the webhook would write for the guide's Pod,
 * pointed at the test servers, and the ServiceAccount token it logs in with. */
import type { TestEnv } from "./env.ts";
import { GUIDE } from "./store_setup.ts";

/** SECRETS_STORE_* for the store of `env`, its CA, the role `role` and the token in
 * `tokenFile`; `extra` adds or replaces variables. */
export function injectorSettings(
  env: TestEnv,
  role: string,
  tokenFile: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    SECRETS_STORE_ADDR: env.bao.address,
    SECRETS_STORE_ROLE: role,
    SECRETS_STORE_AUTH_PATH: "kubernetes_local",
    SECRETS_STORE_CA_FILE: env.bao.caFile,
    SECRETS_STORE_TOKEN_FILE: tokenFile,
    ...extra,
  };
}

/** Writes a token of the guide's ServiceAccount to `file`, as the kubelet projects one. */
export async function writeGuideToken(env: TestEnv, file: string): Promise<void> {
  await Deno.writeTextFile(file, await env.kube.tokenFor(GUIDE.namespace, GUIDE.serviceAccount));
}
