/** The servers of one test run, started once by tests/run.ts and shared by every test file
 * through a JSON file named in SECRETS_STORE_TEST_ENV. */
import type { Kube } from "./kube.ts";
import { type KubeApi, kubeApi } from "./kube_api.ts";
import { baoApi } from "./store_setup.ts";

export const ENV_VAR = "SECRETS_STORE_TEST_ENV";

export interface TestEnvFile {
  bao: { address: string; caCert: string; caFile: string; rootToken: string; auditLog: string };
  kube: Pick<
    Kube,
    "url" | "caCert" | "caFile" | "adminToken" | "webhookToken" | "csiToken" | "auditLog"
  >;
  /** Scratch directory of this run, removed at the end. */
  dir: string;
  /** The `deno compile` executable (scripts/compile.sh), as it ships. */
  binary: string;
}

export interface TestEnv extends TestEnvFile {
  /** Root calls to the store (the guide's curl commands). */
  bao: TestEnvFile["bao"] & { api: ReturnType<typeof baoApi> };
  kube: TestEnvFile["kube"] & KubeApi;
}

let cached: TestEnv | undefined;

/** The running servers; fails with instructions when tests were started without them. */
export function testEnv(): TestEnv {
  if (cached) return cached;
  const file = Deno.env.get(ENV_VAR);
  if (!file) {
    throw new Error(
      `${ENV_VAR} is not set: integration tests run through "deno task test", which starts OpenBao and kube-apiserver`,
    );
  }
  const raw = JSON.parse(Deno.readTextFileSync(file)) as TestEnvFile;
  cached = {
    ...raw,
    bao: { ...raw.bao, api: baoApi(raw.bao) },
    kube: { ...raw.kube, ...kubeApi(raw.kube.url, raw.kube.caCert, raw.kube.adminToken) },
  };
  return cached;
}
