/** The chart's monitoring switches as an operator turns them on: off by default, and when on,
 * every ServiceMonitor and PodMonitor selects the Pods (or the Service) of its role and
 * scrapes a port those Pods declare. */
import { parseAllDocuments } from "yaml";
import { assert, assertEquals } from "./harness/assert.ts";
import { testEnv } from "./harness/env.ts";
import { runHelm } from "./harness/helm.ts";
import { ROOT } from "./harness/process.ts";

const env = testEnv();
const CHART = `${ROOT}/deploy/helm/secrets-store`;
const NS = "d8-secrets-store-integration";

interface Obj {
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: Record<string, unknown>;
}

async function render(...set: string[]): Promise<Obj[]> {
  const out = await runHelm(
    env.dir,
    "template",
    "secrets-store",
    CHART,
    "--namespace",
    NS,
    ...set.flatMap((s) => ["--set", s]),
  );
  assertEquals(out.code, 0, out.stderr);
  return parseAllDocuments(out.stdout)
    .map((d) => d.toJSON() as Obj | null)
    .filter((o): o is Obj => !!o);
}

type Selector = {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
};

/** Whether `labels` satisfy a Kubernetes label selector. */
function matches(s: Selector, labels: Record<string, string> = {}): boolean {
  for (const [k, v] of Object.entries(s.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of s.matchExpressions ?? []) {
    const has = e.key in labels && e.values!.includes(labels[e.key]!);
    if (e.operator === "In" ? !has : e.operator === "NotIn" ? has : true) return false;
  }
  return true;
}

type Workload = Obj & {
  spec: {
    template: {
      metadata: { labels: Record<string, string> };
      spec: { containers: Array<{ ports?: Array<{ name: string }>; args?: string[] }> };
    };
  };
};

function workloads(objs: Obj[]): Workload[] {
  return objs.filter((o) => o.kind === "Deployment" || o.kind === "DaemonSet") as Workload[];
}

function portsOf(w: Workload): string[] {
  return w.spec.template.spec.containers.flatMap((c) => (c.ports ?? []).map((p) => p.name));
}

Deno.test("by default the chart renders no monitor, and the CSI driver still serves /metrics on its port", async () => {
  const objs = await render();
  assertEquals(objs.filter((o) => /Monitor$/.test(o.kind)).map((o) => o.kind), []);
  const ds = workloads(objs).find((w) => w.kind === "DaemonSet")!;
  assert(portsOf(ds).includes("metrics"));
  assert(ds.spec.template.spec.containers[0]!.args!.includes("--metrics-listen=0.0.0.0:9809"));
  const moved = workloads(await render("monitoring.csiPort=9901")).find((w) =>
    w.kind === "DaemonSet"
  )!;
  assert(moved.spec.template.spec.containers[0]!.args!.includes("--metrics-listen=0.0.0.0:9901"));
});

Deno.test("each PodMonitor selects its role's Pods only, on a port they declare, with the interval and labels given", async () => {
  const objs = await render(
    "monitoring.podMonitor.enabled=true",
    "monitoring.podMonitor.interval=15s",
    "monitoring.podMonitor.labels.team=platform",
  );
  const monitors = objs.filter((o) => o.kind === "PodMonitor");
  assertEquals(monitors.map((m) => m.metadata.name).sort(), [
    "secrets-store-csi",
    "secrets-store-webhook",
  ]);
  for (const m of monitors) {
    const spec = m.spec as {
      selector: Selector;
      podMetricsEndpoints: Array<Record<string, string>>;
    };
    const selected = workloads(objs).filter((w) =>
      matches(spec.selector, w.spec.template.metadata.labels)
    );
    assertEquals(selected.length, 1, m.metadata.name);
    const endpoint = spec.podMetricsEndpoints[0]!;
    assert(portsOf(selected[0]!).includes(endpoint.port!), `${m.metadata.name}: ${endpoint.port}`);
    assertEquals([endpoint.path, endpoint.interval, m.metadata.labels!.team], [
      "/metrics",
      "15s",
      "platform",
    ]);
  }
});

Deno.test("each ServiceMonitor selects one Service, whose target port its role's Pods declare", async () => {
  const objs = await render("monitoring.serviceMonitor.enabled=true");
  const services = objs.filter((o) => o.kind === "Service") as Array<
    Obj & {
      spec: {
        selector: Record<string, string>;
        ports: Array<{ name: string; targetPort: string }>;
      };
    }
  >;
  const monitors = objs.filter((o) => o.kind === "ServiceMonitor");
  assertEquals(monitors.length, 2);
  for (const m of monitors) {
    const spec = m.spec as { selector: Selector; endpoints: Array<Record<string, unknown>> };
    const chosen = services.filter((s) => matches(spec.selector, s.metadata.labels));
    assertEquals(chosen.length, 1, `${m.metadata.name}: ${chosen.map((s) => s.metadata.name)}`);
    const port = chosen[0]!.spec.ports.find((p) => p.name === spec.endpoints[0]!.port)!;
    assert(port, `${m.metadata.name}: no port ${spec.endpoints[0]!.port}`);
    const pods = workloads(objs).filter((w) =>
      matches({ matchLabels: chosen[0]!.spec.selector }, w.spec.template.metadata.labels)
    );
    assertEquals(pods.length, 1);
    assert(portsOf(pods[0]!).includes(port.targetPort));
    if (m.metadata.name.endsWith("webhook")) {
      assertEquals(spec.endpoints[0]!.scheme, "https");
      assertEquals(
        (spec.endpoints[0]!.tlsConfig as { serverName: string }).serverName,
        `secrets-store-webhook.${NS}.svc`,
      );
    }
  }
});
