/** The Events a user would see (`kubectl events`, `kubectl describe`), read through the
 * Events API as admin. */
import type { KubeApi } from "./kube_api.ts";
import { waitUntil } from "./process.ts";

export interface KubeEvent {
  metadata: { name: string; namespace: string };
  type: string;
  reason: string;
  action: string;
  note?: string;
  reportingController: string;
  reportingInstance: string;
  regarding: { apiVersion?: string; kind: string; namespace: string; name: string; uid?: string };
  series?: { count: number; lastObservedTime: string };
}

/** Every event of `namespace`. */
export async function eventsIn(kube: KubeApi, namespace: string): Promise<KubeEvent[]> {
  const list = await kube.api<{ items: KubeEvent[] }>(
    "GET",
    `/apis/events.k8s.io/v1/namespaces/${namespace}/events`,
  );
  return list.items;
}

/** The first event of `namespace` that `match` accepts, waiting up to `ms` for it; fails
 * listing what was there. */
export async function waitForEvent(
  kube: KubeApi,
  namespace: string,
  what: string,
  match: (e: KubeEvent) => boolean,
  ms = 15_000,
): Promise<KubeEvent> {
  let found: KubeEvent | undefined;
  let seen: KubeEvent[] = [];
  try {
    await waitUntil(what, async () => {
      seen = await eventsIn(kube, namespace);
      found = seen.find(match);
      return found !== undefined;
    }, ms);
  } catch (e) {
    const have = seen.map((x) => `${x.reason} ${x.regarding.kind}/${x.regarding.name}: ${x.note}`);
    throw new Error(`${(e as Error).message}\nevents in ${namespace}:\n${have.join("\n")}`);
  }
  return found!;
}
