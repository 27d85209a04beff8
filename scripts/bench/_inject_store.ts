/** The store both injector benchmarks read from: a local OpenBao with Kubernetes auth checked
 * by a real kube-apiserver, 50 KV v2 secrets under demo-kv/data/bench/s<i> (key VALUE), role
 * `bench` allowed to read them, the ServiceAccount's token in a file, and a proxy adding 5 ms
 * to every client-to-server chunk. */
import { startKube } from "../../tests/harness/kube.ts";
import { type OpenBao, startOpenBao } from "../../tests/harness/openbao.ts";
import { baoApi, GUIDE, prepareGuideStore } from "../../tests/harness/store_setup.ts";
import { startLatencyProxy } from "../../tests/harness/latency_proxy.ts";

export interface InjectBenchStore {
  bao: OpenBao;
  tokenFile: string;
  /** https address of the +5 ms proxy in front of OpenBao. */
  proxied: string;
  /** The injector's environment for `paths` templates (one secret each) at `address`. */
  injectorEnv(address: string, paths: number): Record<string, string>;
  /** Writes a fresh token to tokenFile: each lives 10 minutes, less than a long run. */
  renewToken(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the servers under `dir` and fills the store; stop() ends them. */
export async function startInjectBenchStore(dir: string): Promise<InjectBenchStore> {
  const [bao, kube] = await Promise.all([startOpenBao(dir), startKube(dir)]);
  try {
    await prepareGuideStore(bao, kube);
    const api = baoApi(bao);
    for (let i = 0; i < 50; i++) {
      await api("PUT", `demo-kv/data/bench/s${i}`, { data: { VALUE: `v${i}` } });
    }
    await api("PUT", "sys/policies/acl/bench", {
      policy: 'path "demo-kv/data/bench/*" { capabilities = ["read"] }',
    });
    await api("PUT", "auth/kubernetes_local/role/bench", {
      bound_service_account_names: GUIDE.serviceAccount,
      bound_service_account_namespaces: GUIDE.namespace,
      policies: "bench",
    });
    const tokenFile = `${dir}/token`;
    const renewToken = async () =>
      await Deno.writeTextFile(
        tokenFile,
        await kube.tokenFor(GUIDE.namespace, GUIDE.serviceAccount),
      );
    await renewToken();
    const proxy = startLatencyProxy({
      hostname: "127.0.0.1",
      port: Number(new URL(bao.address).port),
    }, 5);
    return {
      bao,
      tokenFile,
      proxied: `https://127.0.0.1:${proxy.port}`,
      renewToken,
      injectorEnv(address, paths) {
        const vars: Record<string, string> = {
          PATH: "/usr/bin:/bin",
          SECRETS_STORE_ADDR: address,
          SECRETS_STORE_ROLE: "bench",
          SECRETS_STORE_CA_FILE: bao.caFile,
          SECRETS_STORE_TOKEN_FILE: tokenFile,
        };
        for (let i = 0; i < paths; i++) {
          vars[`S${i}`] = `secrets-store:demo-kv/data/bench/s${i}#VALUE`;
        }
        return vars;
      },
      async stop() {
        await proxy.close();
        await Promise.all([bao.stop(), kube.stop()]);
      },
    };
  } catch (e) {
    await Promise.all([bao.stop(), kube.stop()]);
    throw e;
  }
}
