/** The product installed on the e2e cluster the way an operator installs it: the image pushed
 * to the cluster's registry, then `helm install` of deploy/helm/secrets-store with the chart's
 * default connection settings (DiscoverLocalStronghold, on a cluster without Stronghold), and
 * `helm upgrade` to the guide's Manual connection settings pointing at a real OpenBao prepared
 * as the guide prepares it. */
import { startOpenBao } from "../harness/openbao.ts";
import type { OpenBao } from "../harness/openbao.ts";
import { peerBinary, ROOT, waitUntil } from "../harness/process.ts";
import { isReady, type PodObject } from "./kube_pods.ts";
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
  /** What the chart's default connection settings gave, before the Manual ones were set. */
  defaults: DefaultInstall;
}

/** The installation with the chart's defaults on a cluster without d8-stronghold. */
export interface DefaultInstall {
  /** `<component>/<name>` of the product's serving Pods, every one Ready. */
  readyPods: string[];
  /** `helm test`'s report. */
  helmTest: string;
  /** The API server's refusal of a Pod with the role annotation. */
  denial: string;
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
  // First every connection setting as the chart has it (no d8-stronghold namespace exists
  // here): the roles must start, serve and pass helm test, and refuse only injection.
  await run(peerBinary("helm"), [
    "install",
    RELEASE,
    `${ROOT}/deploy/helm/secrets-store`,
    `--kubeconfig=${c.kubeconfig}`,
    `--namespace=${PRODUCT_NS}`,
    `--set=image.repository=${repository},image.tag=${tag},image.pullSecrets={${PULL_SECRET}}`,
    // The webhook reads entrypoints of images without a command from the cluster's registry.
    `--set-file=registry.caCert=${registryCa}`,
    // One node: one webhook replica. Pods reach the store on the node's loopback (hostNetwork).
    "--set=webhook.replicas=1,webhook.hostNetwork=true,csi.hostNetwork=true",
    // The helm test Pod too: no Pod here has a network of its own.
    "--set=test.hostNetwork=true",
    `--set=csi.kubeletDir=${c.kubeletDir},csi.rotationInterval=${rotationSeconds}s`,
    "--wait",
    "--timeout=3m",
  ], helmHome(dir));
  await waitForRegistration(c);
  await waitForWebhook(c, { caDenied: true });
  const defaults = {
    readyPods: await readyPods(c),
    helmTest: await helmTest(c, dir),
    denial: await annotatedPodDenial(c),
  };
  // Then the guide's Manual settings, as an operator without Stronghold goes on.
  await upgrade(c, dir, [
    "--set=connectionConfiguration=Manual",
    `--set=connection.url=${bao.address},connection.authPath=kubernetes_local`,
    `--set-file=connection.caCert=${bao.caFile}`,
  ]);
  await waitForRegistration(c);
  return { bao, image, rotationSeconds, defaults };
}

/** Switches the installation's injector delivery (`helm upgrade --reuse-values`), waiting for
 * the webhook's rollout and for it to answer admissions again. */
export async function setDelivery(
  c: Cluster,
  dir: string,
  delivery: "auto" | "copy" | "imageVolume",
): Promise<void> {
  await upgrade(c, dir, [`--set=injector.delivery=${delivery}`]);
}

/** `helm upgrade --reuse-values` with `sets`, waiting for the rollout and for the webhook to
 * admit Pods again. */
async function upgrade(c: Cluster, dir: string, sets: string[]): Promise<void> {
  await run(peerBinary("helm"), [
    "upgrade",
    RELEASE,
    `${ROOT}/deploy/helm/secrets-store`,
    `--kubeconfig=${c.kubeconfig}`,
    `--namespace=${PRODUCT_NS}`,
    "--reuse-values",
    ...sets,
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

/** The kubelet has registered the CSI driver (after a rollout too). */
async function waitForRegistration(c: Cluster): Promise<void> {
  await waitUntil("the kubelet registering the CSI driver", async () => {
    const node = await c.api<{ spec?: { drivers?: Array<{ name: string }> | null } }>(
      "GET",
      `/apis/storage.k8s.io/v1/csinodes/${c.nodeName}`,
      undefined,
      [404],
    );
    return node.spec?.drivers?.some((d) => d.name === DRIVER) ?? false;
  }, 60_000);
}

/** `<component>/<name>` of the product's serving Pods, once each role has one and every one
 * is Ready. */
async function readyPods(c: Cluster): Promise<string[]> {
  let names: string[] = [];
  await waitUntil("the webhook and CSI driver Pods Ready", async () => {
    const list = await c.api<{ items: PodObject[] }>(
      "GET",
      `/api/v1/namespaces/${PRODUCT_NS}/pods?labelSelector=app.kubernetes.io/instance=${RELEASE}`,
    );
    const component = (p: PodObject) =>
      (p.metadata as { labels?: Record<string, string> }).labels?.["app.kubernetes.io/component"];
    const serving = list.items.filter((p) => ["webhook", "csi"].includes(component(p) ?? ""));
    names = serving.map((p) => `${component(p)}/${p.metadata.name}`);
    return serving.every(isReady) &&
      ["webhook/", "csi/"].every((r) => names.some((n) => n.startsWith(r)));
  }, 60_000);
  return names;
}

/** A dry-run Pod with the role annotation, as the API server answers it (a Status for each
 * code of `allow`). */
function createAnnotatedPod(c: Cluster, allow: number[] = []): Promise<{ message?: string }> {
  return c.api("POST", "/api/v1/namespaces/default/pods?dryRun=All", {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: "webhook-probe",
      annotations: { "secrets-store.deckhouse.io/role": "r" },
    },
    spec: { containers: [{ name: "c", image: "busybox", command: ["true"] }] },
  }, allow);
}

/** The refusal of an annotated Pod while the store's CA is not known. */
async function annotatedPodDenial(c: Cluster): Promise<string> {
  // Allowed as an answer, so the message comes whole (a failed call's error is cut short).
  const r = await createAnnotatedPod(c, [400]);
  if (r.message === undefined) {
    throw new Error("a Pod asking for injection was admitted without the store's CA");
  }
  return r.message;
}

/** A webhook Pod is Ready before kube-proxy routes its Service to it, and the API server then
 * gets "connection refused": admit a dry-run Pod until the webhook answers. With `caDenied`,
 * a denial because the store's CA is not known is an answer too; without it, such a denial is
 * a webhook of the settings before an upgrade, still answering. */
async function waitForWebhook(c: Cluster, o: { caDenied?: boolean } = {}): Promise<void> {
  await waitUntil("the webhook answering through its Service", async () => {
    try {
      await createAnnotatedPod(c);
      return true;
    } catch (e) {
      if ((e as Error).message.includes("d8-stronghold/stronghold-tls")) return o.caDenied === true;
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
