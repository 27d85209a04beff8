/** The product installed on the e2e cluster the way an operator installs it: the image pushed
 * to the cluster's registry, then `helm install` of deploy/helm/secrets-store with the guide's
 * Manual connection settings pointing at a real OpenBao prepared as the guide prepares it. */
import { startOpenBao } from "../harness/openbao.ts";
import type { OpenBao } from "../harness/openbao.ts";
import { peerBinary, ROOT, waitUntil } from "../harness/process.ts";
import { prepareGuideStore } from "../harness/store_setup.ts";
import { type Cluster, PULL_SECRET } from "./cluster.ts";
import { pushProductImage } from "./product_image.ts";

export const RELEASE = "secrets-store";
export const PRODUCT_NS = "d8-secrets-store-integration";
export const DRIVER = "secrets-store.csi.deckhouse.io";

export interface Installed {
  bao: OpenBao;
  /** The product image reference the chart was given. */
  image: string;
  /** How often the driver re-reads the store (the chart's csi.rotationInterval). */
  rotationSeconds: number;
}

/** OpenBao prepared as the guide says, the product image pushed, the chart installed; resolves
 * once the webhook answers and the kubelet has registered the CSI driver. */
export async function installProduct(c: Cluster, dir: string): Promise<Installed> {
  const bao = await startOpenBao(dir);
  await prepareGuideStore(bao, c);
  const compiled = `${dir}/secrets-store`;
  await run("bash", [`${ROOT}/scripts/compile.sh`, compiled]);
  const image = await pushProductImage(c.registry, dir, compiled);
  await c.api("POST", "/api/v1/namespaces", { metadata: { name: PRODUCT_NS } });
  await c.pullSecret(PRODUCT_NS);
  const rotationSeconds = 5;
  const registryCa = `${dir}/registry-ca.crt`;
  await Deno.writeTextFile(registryCa, c.registry.caCert);
  const [repository, tag] = [image.slice(0, image.lastIndexOf(":")), "e2e"];
  await run(peerBinary("helm"), [
    "install",
    RELEASE,
    `${ROOT}/deploy/helm/secrets-store`,
    `--kubeconfig=${c.kubeconfig}`,
    `--namespace=${PRODUCT_NS}`,
    `--set=image.repository=${repository},image.tag=${tag},image.pullSecrets={${PULL_SECRET}}`,
    "--set=connectionConfiguration=Manual",
    `--set=connection.url=${bao.address},connection.authPath=kubernetes_local`,
    `--set-file=connection.caCert=${bao.caFile}`,
    // The webhook reads entrypoints of images without a command from the cluster's registry.
    `--set-file=registry.caCert=${registryCa}`,
    // One node: one webhook replica. Pods reach the store on the node's loopback (hostNetwork).
    // Every other value is the chart's default (no d8-stronghold namespace exists here).
    "--set=webhook.replicas=1,webhook.hostNetwork=true,csi.hostNetwork=true",
    // The helm test Pod too: no Pod here has a network of its own.
    "--set=test.hostNetwork=true",
    `--set=csi.kubeletDir=${c.kubeletDir},csi.rotationInterval=${rotationSeconds}s`,
    "--wait",
    "--timeout=3m",
  ], helmHome(dir));
  await waitUntil("the kubelet registering the CSI driver", async () => {
    const node = await c.api<{ spec?: { drivers?: Array<{ name: string }> | null } }>(
      "GET",
      `/apis/storage.k8s.io/v1/csinodes/${c.nodeName}`,
      undefined,
      [404],
    );
    return node.spec?.drivers?.some((d) => d.name === DRIVER) ?? false;
  }, 60_000);
  await waitForWebhook(c);
  return { bao, image, rotationSeconds };
}

/** Switches the installation's injector delivery (`helm upgrade --reuse-values`), waiting for
 * the webhook's rollout and for it to answer admissions again. */
export async function setDelivery(
  c: Cluster,
  dir: string,
  delivery: "auto" | "copy" | "imageVolume",
): Promise<void> {
  await run(peerBinary("helm"), [
    "upgrade",
    RELEASE,
    `${ROOT}/deploy/helm/secrets-store`,
    `--kubeconfig=${c.kubeconfig}`,
    `--namespace=${PRODUCT_NS}`,
    "--reuse-values",
    `--set=injector.delivery=${delivery}`,
    "--wait",
    "--timeout=3m",
  ], helmHome(dir));
  await waitForWebhook(c);
}

/** `helm test`: the chart's check-install Pod calls the webhook as the API server does and
 * finds the driver registered on the node. Resolves to helm's report; on a failure the error
 * holds the test Pod's log (a failed test Pod is kept, a passed one deleted). */
export async function helmTest(c: Cluster, dir: string): Promise<string> {
  try {
    return await run(peerBinary("helm"), [
      "test",
      RELEASE,
      `--kubeconfig=${c.kubeconfig}`,
      `--namespace=${PRODUCT_NS}`,
      "--timeout=3m",
    ], helmHome(dir));
  } catch (e) {
    const log = await c.api<unknown>(
      "GET",
      `/api/v1/namespaces/${PRODUCT_NS}/pods/${RELEASE}-test/log`,
      undefined,
      [400, 404],
    ).catch((l) => `(no log: ${(l as Error).message})`);
    throw new Error(`${(e as Error).message}\ntest Pod log:\n${JSON.stringify(log)}`);
  }
}

/** A webhook Pod is Ready before kube-proxy routes its Service to it, and the API server then
 * gets "connection refused": admit a dry-run Pod until the webhook answers. */
async function waitForWebhook(c: Cluster): Promise<void> {
  await waitUntil("the webhook answering through its Service", async () => {
    try {
      await c.api("POST", "/api/v1/namespaces/default/pods?dryRun=All", {
        apiVersion: "v1",
        kind: "Pod",
        metadata: {
          name: "webhook-probe",
          annotations: { "secrets-store.deckhouse.io/role": "r" },
        },
        spec: { containers: [{ name: "c", image: "busybox", command: ["true"] }] },
      });
      return true;
    } catch (e) {
      // Also the default ServiceAccount, which a young cluster may not have made yet.
      const retry =
        /failed calling webhook|no endpoints|connection refused|serviceaccount.*not found/i;
      if (retry.test((e as Error).message)) {
        return false;
      }
      throw e;
    }
  }, 60_000);
}

function helmHome(dir: string): Record<string, string> {
  return {
    HELM_CACHE_HOME: `${dir}/helm`,
    HELM_CONFIG_HOME: `${dir}/helm`,
    HELM_DATA_HOME: `${dir}/helm`,
  };
}

async function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<string> {
  const out = await new Deno.Command(cmd, { args, env, stdout: "piped", stderr: "piped" })
    .output();
  const d = new TextDecoder();
  if (!out.success) {
    throw new Error(`${cmd} ${args[0]} failed (${out.code}): ${d.decode(out.stderr).slice(-3000)}`);
  }
  return d.decode(out.stdout);
}
