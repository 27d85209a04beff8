/** What a user does with Pods from the command line, as API calls: create, wait, read logs
 * (`d8 k logs`), describe (events), delete. Failures carry the Pod's events and logs. */
import { waitUntil } from "../harness/process.ts";
import type { KubeApi } from "../harness/kube_api.ts";

export interface PodStatus {
  phase?: string;
  conditions?: Array<{ type: string; status: string }>;
  containerStatuses?: Array<{
    name: string;
    ready: boolean;
    restartCount: number;
    state?: Record<string, { reason?: string; message?: string; exitCode?: number }>;
  }>;
}

export interface PodObject {
  metadata: { name: string; uid: string; annotations?: Record<string, string> };
  spec: Record<string, unknown>;
  status?: PodStatus;
}

export class Pods {
  /** Pods created since the last cleanUp(): described on failure, then deleted. */
  readonly #created = new Set<string>();

  constructor(private readonly kube: KubeApi, readonly namespace: string) {}

  #path(name = "") {
    return `/api/v1/namespaces/${this.namespace}/pods${name ? `/${name}` : ""}`;
  }

  /** Creates the Pod (as `d8 k create -f`); returns the stored object (mutated or not). */
  async create(pod: Record<string, unknown>): Promise<PodObject> {
    const created = await this.kube.api<PodObject>("POST", this.#path(), {
      apiVersion: "v1",
      kind: "Pod",
      ...pod,
    });
    this.#created.add(created.metadata.name);
    return created;
  }

  /** Counts a Pod created another way as created here (described, then deleted). */
  track(name: string): void {
    this.#created.add(name);
  }

  /** What `describe` says of every Pod created since the last cleanUp(). */
  async describeCreated(): Promise<string> {
    return (await Promise.all([...this.#created].map((n) => this.describe(n)))).join("\n");
  }

  /** Deletes every Pod created since the last cleanUp(). */
  async cleanUp(): Promise<void> {
    for (const name of this.#created) await this.delete(name);
    this.#created.clear();
  }

  async get(name: string): Promise<PodObject> {
    return await this.kube.api<PodObject>("GET", this.#path(name));
  }

  /** The log of a container, as `d8 k logs` prints it. */
  async logs(name: string, container?: string): Promise<string> {
    const q = container ? `?container=${container}` : "";
    const text = await this.kube.api<unknown>("GET", `${this.#path(name)}/log${q}`, undefined, [
      400,
    ]);
    return typeof text === "string" ? text : JSON.stringify(text);
  }

  /** Waits until the log satisfies `check`; fails with the Pod's events and logs. */
  async waitForLog(
    name: string,
    check: (log: string) => boolean,
    timeoutMs = 90_000,
    container?: string,
  ): Promise<string> {
    let log = "";
    await this.explain(name, () =>
      waitUntil(`log of ${this.namespace}/${name}`, async () => {
        log = await this.logs(name, container).catch(() => "");
        return check(log);
      }, timeoutMs));
    return log;
  }

  /** Waits until `check` holds for the Pod; fails with the Pod's events and logs. */
  async waitFor(
    name: string,
    what: string,
    check: (p: PodObject) => boolean,
    timeoutMs = 90_000,
  ): Promise<PodObject> {
    let pod: PodObject | undefined;
    await this.explain(name, () =>
      waitUntil(`${this.namespace}/${name} ${what}`, async () => {
        pod = await this.get(name);
        return check(pod);
      }, timeoutMs));
    return pod!;
  }

  /** The Pod's events, newest last, as "Reason: message" lines. */
  async events(name: string): Promise<string[]> {
    const list = await this.kube.api<{
      items: Array<{ reason: string; message: string; lastTimestamp?: string }>;
    }>(
      "GET",
      `/api/v1/namespaces/${this.namespace}/events?fieldSelector=involvedObject.name=${name}`,
    );
    return list.items.map((e) => `${e.reason}: ${e.message}`);
  }

  /** Runs `fn`; when it throws, the error also shows what `d8 k describe` and `logs` would. */
  async explain<T>(name: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${await this.describe(name)}`);
    }
  }

  /** Status, events and every container's log of the Pod, for failure messages. */
  async describe(name: string): Promise<string> {
    try {
      const pod = await this.get(name);
      const names = [
        ...((pod.spec.initContainers ?? []) as Array<{ name: string }>),
        ...(pod.spec.containers as Array<{ name: string }>),
      ].map((c) => c.name);
      const logs = await Promise.all(
        names.map(async (c) => `--- log of ${c}:\n${(await this.logs(name, c)).slice(-2000)}`),
      );
      return [
        `=== Pod ${this.namespace}/${name}: ${JSON.stringify(pod.status ?? {}).slice(0, 1500)}`,
        "--- events:",
        ...(await this.events(name)),
        ...logs,
      ].join("\n");
    } catch (e) {
      return `(cannot describe ${this.namespace}/${name}: ${(e as Error).message})`;
    }
  }

  /** Deletes the Pod (`--force`: no grace period) and waits until it is gone. */
  async delete(name: string): Promise<void> {
    await this.kube.api("DELETE", this.#path(name), {
      apiVersion: "v1",
      kind: "DeleteOptions",
      gracePeriodSeconds: 0,
    }, [404]);
    await waitUntil(`${name} deleted`, async () => {
      const r = await this.kube.api<{ kind?: string }>("GET", this.#path(name), undefined, [404]);
      return r.kind !== "Pod";
    }, 60_000);
  }
}

export function isReady(p: PodObject): boolean {
  return p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}
