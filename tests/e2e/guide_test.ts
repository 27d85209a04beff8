/** The usage guide, example by example, on a real single-node cluster (cluster.ts) with the
 * product installed by its Helm chart (install.ts) and a real OpenBao prepared through its
 * HTTP API as the guide's curl commands do. Each test is one example of the guide; the Pods
 * are the guide's, with two changes this machine needs: the image `alpine:3.20` is a
 * busybox-static image in the cluster's registry (nothing can be pulled from outside), and
 * Pods use `hostNetwork: true` to reach the store on 127.0.0.1. A failing example shows the
 * Pod's status, events and logs. Run as root: `deno task e2e`. */
import { assert, assertEquals, assertStringIncludes } from "../harness/assert.ts";
import { makeCa } from "../harness/pki.ts";
import { waitUntil } from "../harness/process.ts";
import { baoApi, GUIDE } from "../harness/store_setup.ts";
import { type Cluster, PULL_SECRET, startCluster } from "./cluster.ts";
import { pushAlpineStandIn, pushBusyboxImage } from "./images.ts";
import { watchFile } from "../harness/inotify.ts";
import { DRIVER, helmTest, type Installed, installProduct, setDelivery } from "./install.ts";
import { isReady, type PodObject, Pods } from "./kube_pods.ts";

const NS = GUIDE.namespace;
const A = "secrets-store.deckhouse.io/";
const KEYTAB = new Uint8Array(2048).map((_, i) => (i * 151 + 7) % 256); // every byte value
const VERSIONS = { 2: "pass-v2", 3: "pass-v3", 4: "pass-v4" } as const;

interface World {
  cluster: Cluster;
  product: Installed;
  pods: Pods;
  alpine: string;
  /** An image with ENTRYPOINT and CMD and no command in the Pod spec. */
  noCommandImage: string;
  store: ReturnType<typeof baoApi>;
}

let world: Promise<World> | undefined;
let base: string | undefined;

function setUp(): Promise<World> {
  return world ??= (async () => {
    base = await Deno.makeTempDir({ prefix: "e2e-guide-" });
    const cluster = await startCluster(`${base}/cluster`);
    // A failed installation stops the cluster here: the last test never gets a world to stop,
    // and a cluster left running breaks the next suite that starts one.
    const product = await installProduct(cluster, base).catch(async (e) => {
      await cluster.stop({ keepLogsIn: Deno.env.get("E2E_KEEP_LOGS") }).catch(() => {});
      throw e;
    });
    const store = baoApi(product.bao);
    // Versions 2-4 of the guide's secret, then the guide's values again as the latest, with
    // the keytab of "Delivering binary files" beside them (kv put writes a whole version).
    for (const pass of Object.values(VERSIONS)) {
      await store("PUT", GUIDE.secretPath, { data: { ...GUIDE.data, DB_PASS: pass } });
    }
    await store("PUT", GUIDE.secretPath, {
      data: { ...GUIDE.data, keytab: btoa(String.fromCharCode(...KEYTAB)), bad: "not*base64" },
    });
    // The MY_SECRET example needs that key under a path of env-from-path.
    await store("PUT", GUIDE.commonPath, { data: { ...GUIDE.common, MY_SECRET: "from-path" } });
    // Rotation works on its own secret so that other examples keep their values.
    await store("PUT", "demo-kv/data/e2e/rotating", { data: { TOKEN: "first" } });
    await store("PUT", "sys/policies/acl/e2e-rotating", {
      policy: 'path "demo-kv/data/e2e/*" {\n  capabilities = ["read"]\n}\n',
    });
    for (const path of GUIDE.authPaths) {
      await store("PUT", `auth/${path}/role/${GUIDE.role}`, {
        bound_service_account_names: GUIDE.serviceAccount,
        bound_service_account_namespaces: NS,
        policies: "myapp-ro-policy,myapp-common-policy,e2e-rotating",
        ttl: "10m",
      });
    }
    await cluster.pullSecret(NS);
    await cluster.patch(`/api/v1/namespaces/${NS}/serviceaccounts/${GUIDE.serviceAccount}`, {
      imagePullSecrets: [{ name: PULL_SECRET }],
    });
    const alpine = await pushAlpineStandIn(cluster.registry, base);
    const noCommandImage = await pushBusyboxImage(cluster.registry, base, "team/env", "1", {
      entrypoint: ["/bin/sh", "-c"],
      cmd: ["env; sleep 3600"],
    });
    return { cluster, product, pods: new Pods(cluster, NS), alpine, noCommandImage, store };
  })();
}

/** A guide example as a test; the world is shared, the cluster stops in the last test. When
 * it fails, the error shows the status, events and logs of every Pod it created; its Pods are
 * deleted either way. */
function example(name: string, fn: (w: World) => Promise<void>) {
  Deno.test({
    name,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      const w = await setUp();
      try {
        await fn(w);
      } catch (e) {
        throw new Error(`${(e as Error).message}\n${await w.pods.describeCreated()}`);
      } finally {
        await w.pods.cleanUp();
      }
    },
  });
}

/** How the injector reaches Pods right now: the chart's default on this cluster first. */
let delivery: "imageVolume" | "copy" = "imageVolume";
const envExamples: Array<[string, (w: World) => Promise<void>]> = [];

/** An example of environment injection: run now with image volumes, and again later with the
 * copy (repeatUnderCopy), so both delivery paths pass the guide. */
function envExample(name: string, fn: (w: World) => Promise<void>) {
  example(name, fn);
  envExamples.push([name, fn]);
}

function repeatUnderCopy() {
  envExamples.forEach(([name, fn], i) =>
    example(`${name} (injector.delivery: copy)`, async (w) => {
      if (i === 0) {
        await setDelivery(w.cluster, base!, "copy");
        delivery = "copy";
      }
      await fn(w);
    })
  );
}

/** The guide's Pod shape: myapp-sa, hostNetwork (see the top of the file). */
function guidePod(
  w: World,
  name: string,
  annotations: Record<string, string>,
  containers: Array<Record<string, unknown>>,
  extra: Record<string, unknown> = {},
) {
  return {
    metadata: { name, namespace: NS, annotations },
    spec: {
      serviceAccountName: GUIDE.serviceAccount,
      hostNetwork: true,
      terminationGracePeriodSeconds: 0,
      containers: containers.map((c) => ({ image: w.alpine, ...c })),
      ...extra,
    },
  };
}

const PRINTENV = ["sh", "-c", "while printenv; do sleep 5; done"];

/** Variables of the last full `printenv` in a log. */
function lastEnv(log: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of log.split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
  }
  return env;
}

async function runToLog(
  w: World,
  pod: ReturnType<typeof guidePod>,
  check: (log: string) => boolean,
  container?: string,
): Promise<string> {
  const name = pod.metadata.name;
  await w.pods.create(pod);
  return await w.pods.waitForLog(name, check, 90_000, container);
}

example(
  "the chart installs with its defaults on a cluster without d8-stronghold: Pods Ready, helm test passes, injection denied naming the Secret",
  async (w) => {
    const ns = await w.cluster.api<{ code?: number }>(
      "GET",
      "/api/v1/namespaces/d8-stronghold",
      undefined,
      [404],
    );
    assertEquals(ns.code, 404);
    // Installed with every connection setting as the chart has it (install.ts): both roles
    // ran Ready, helm test passed, and only injection was refused, naming what to do.
    const d = w.product.defaults;
    assert(d.readyPods.some((p) => p.startsWith("webhook/")), d.readyPods.join(", "));
    assert(d.readyPods.some((p) => p.startsWith("csi/")), d.readyPods.join(", "));
    assert(/Phase:\s+Succeeded/.test(d.helmTest), d.helmTest);
    assertStringIncludes(d.denial, "Secret d8-stronghold/stronghold-tls key ca.crt");
    assertStringIncludes(d.denial, "install Stronghold, or set connectionConfiguration: Manual");
    // Now with the guide's Manual settings (helm upgrade): helm test passes again.
    const report = await helmTest(w.cluster, base!);
    assert(/Phase:\s+Succeeded/.test(report), report);
  },
);

envExample(
  "myapp1: env-from-path imports every key of both paths, the later path winning",
  async (w) => {
    const log = await runToLog(
      w,
      guidePod(w, "myapp1", {
        [A + "role"]: "myapp-role",
        [A + "env-from-path"]: "demo-kv/data/common-secret,demo-kv/data/myapp-secret",
      }, [{ name: "myapp", command: PRINTENV }]),
      (l) => l.includes("DB_PASS="),
    );
    const env = lastEnv(log);
    assertEquals(env.DB_PASS, GUIDE.data.DB_PASS);
    assertEquals(env.DB_USER, GUIDE.data.DB_USER, "myapp-secret comes later, so its DB_USER wins");
    assertEquals([env.LOG_FORMAT, env.REGION], [GUIDE.common.LOG_FORMAT, GUIDE.common.REGION]);
    assertEquals(Object.keys(env).filter((k) => k.startsWith("SECRETS_STORE_")), []);
  },
);

envExample("myapp2: DB_USER and DB_PASS from templates", async (w) => {
  const log = await runToLog(
    w,
    guidePod(w, "myapp2", { [A + "role"]: "myapp-role" }, [{
      name: "myapp",
      env: [
        { name: "DB_USER", value: "secrets-store:demo-kv/data/myapp-secret#DB_USER" },
        { name: "DB_PASS", value: "secrets-store:demo-kv/data/myapp-secret#DB_PASS" },
      ],
      command: PRINTENV,
    }]),
    (l) => l.includes("DB_PASS="),
  );
  const env = lastEnv(log);
  assertEquals([env.DB_USER, env.DB_PASS], [GUIDE.data.DB_USER, GUIDE.data.DB_PASS]);
  // On this Kubernetes 1.36 cluster the chart's default delivery is an image volume: the
  // injector comes from the product image, with no init container and nothing copied. With
  // copy, an init container copies it into an emptyDir.
  const spec = (await w.pods.get("myapp2")).spec as {
    initContainers?: Array<{ name: string }>;
    volumes?: Array<{ name: string; image?: { reference: string }; emptyDir?: unknown }>;
  };
  const volume = spec.volumes?.find((v) => v.name === "secrets-store-injector");
  if (delivery === "imageVolume") {
    assertEquals(spec.initContainers, undefined);
    assertEquals(volume?.image?.reference, w.product.image);
  } else {
    assertEquals(spec.initContainers?.map((c) => c.name), ["secrets-store-copy-self"]);
    assert(volume?.emptyDir, JSON.stringify(volume));
  }
});

example(
  "myapp2 with restart-on-secret-change: a changed secret restarts the container with the new value and says why",
  async (w) => {
    const path = "demo-kv/data/e2e/watched";
    await w.store("PUT", path, { data: { TOKEN: "watched-1" } });
    const name = "myapp2-watch";
    await w.pods.create(guidePod(w, name, {
      [A + "role"]: "myapp-role",
      [A + "restart-on-secret-change"]: "watch-for-data",
      [A + "secret-poll-interval"]: "5s",
    }, [{
      name: "myapp",
      env: [{ name: "TOKEN", value: `secrets-store:${path}#TOKEN` }],
      command: PRINTENV,
    }]));
    await w.pods.waitForLog(name, (l) => l.includes("TOKEN=watched-1"), 90_000);
    await w.store("PUT", path, { data: { TOKEN: "watched-2" } });
    // One interval (5 s, +30 % jitter) and a confirming read; the kubelet's restart after.
    type Status = {
      restartCount: number;
      lastState?: { terminated?: { exitCode?: number; message?: string } };
    };
    let restarted: Status | undefined;
    await waitUntil("the container restarted", async () => {
      const c = ((await w.pods.get(name)).status as { containerStatuses?: Status[] })
        .containerStatuses?.[0];
      if (c && c.restartCount >= 1) restarted = c;
      return restarted !== undefined;
    }, 90_000);
    assertEquals(restarted!.lastState?.terminated?.exitCode, 2);
    assertStringIncludes(
      restarted!.lastState?.terminated?.message ?? "",
      "secret values changed, restarting container",
    );
    await w.pods.waitForLog(name, (l) => l.includes("TOKEN=watched-2"), 90_000);
  },
);

envExample("a template with version #4 reads version 4 of the secret", async (w) => {
  const log = await runToLog(
    w,
    guidePod(w, "myapp-version", { [A + "role"]: "myapp-role" }, [{
      name: "myapp",
      env: [{ name: "PASSWORD", value: "secrets-store:demo-kv/data/myapp-secret#DB_PASS#4" }],
      command: PRINTENV,
    }]),
    (l) => l.includes("PASSWORD="),
  );
  assertEquals(lastEnv(log).PASSWORD, VERSIONS[4]);
});

envExample(
  "templates kept in a ConfigMap and a Secret reach the app through envFrom",
  async (w) => {
    const api = w.cluster.api;
    await api("POST", `/api/v1/namespaces/${NS}/configmaps`, {
      metadata: { name: "app-env" },
      data: { DB_USER: "secrets-store:demo-kv/data/myapp-secret#DB_USER" },
    }, [409]); // made by the first delivery's run
    await api("POST", `/api/v1/namespaces/${NS}/secrets`, {
      metadata: { name: "app-secret-env" },
      stringData: { DB_PASS: "secrets-store:demo-kv/data/myapp-secret#DB_PASS" },
    }, [409]);
    const log = await runToLog(
      w,
      guidePod(w, "myapp-envfrom", { [A + "role"]: "myapp-role" }, [{
        name: "myapp",
        envFrom: [{ secretRef: { name: "app-secret-env" } }, { configMapRef: { name: "app-env" } }],
        command: PRINTENV,
      }]),
      (l) => l.includes("DB_PASS="),
    );
    const env = lastEnv(log);
    assertEquals([env.DB_USER, env.DB_PASS], [GUIDE.data.DB_USER, GUIDE.data.DB_PASS]);
    // The objects keep the templates; only the process sees the values.
    const cm = await api<{ data: Record<string, string> }>(
      "GET",
      `/api/v1/namespaces/${NS}/configmaps/app-env`,
    );
    assertStringIncludes(cm.data.DB_USER!, "secrets-store:");
  },
);

envExample(
  "MY_SECRET: the value imported by env-from-path wins over the explicit template",
  async (w) => {
    const log = await runToLog(
      w,
      guidePod(w, "myapp-precedence", {
        [A + "role"]: "myapp-role",
        [A + "env-from-path"]: "demo-kv/data/common-secret",
      }, [{
        name: "myapp",
        env: [{ name: "MY_SECRET", value: "secrets-store:demo-kv/data/myapp-secret#DB_PASS" }],
        command: PRINTENV,
      }]),
      (l) => l.includes("MY_SECRET="),
    );
    assertEquals(lastEnv(log).MY_SECRET, "from-path");
  },
);

envExample(
  "a container without command: the entrypoint comes from the private registry through imagePullSecrets",
  async (w) => {
    const pod = guidePod(w, "myapp-nocommand", { [A + "role"]: "myapp-role" }, [{
      name: "myapp",
      image: w.noCommandImage,
      env: [{ name: "DB_PASS", value: "secrets-store:demo-kv/data/myapp-secret#DB_PASS" }],
    }]);
    await w.pods.create(pod);
    const stored = await w.pods.get("myapp-nocommand");
    const c = (stored.spec.containers as Array<{ command: string[]; args: string[] }>)[0]!;
    assertEquals(c.command.slice(-2), ["/bin/sh", "-c"], "ENTRYPOINT from the image config");
    assertEquals(c.args, ["env; sleep 3600"], "CMD from the image config");
    const log = await w.pods.waitForLog("myapp-nocommand", (l) => l.includes("DB_PASS="));
    assertEquals(lastEnv(log).DB_PASS, GUIDE.data.DB_PASS);
  },
);

envExample(
  "mutate-probes wraps exec probes; skip-mutate-containers leaves a container as it is",
  async (w) => {
    const probe = {
      exec: { command: ["sh", "-c", 'test "$DB_PASS" = secret-password'] },
      periodSeconds: 1,
    };
    const env = [{ name: "DB_PASS", value: "secrets-store:demo-kv/data/myapp-secret#DB_PASS" }];
    const name = "myapp-probes";
    await w.pods.create(guidePod(w, name, {
      [A + "role"]: "myapp-role",
      [A + "mutate-probes"]: "true",
      [A + "skip-mutate-containers"]: "plain",
    }, [
      { name: "app", env, command: ["sh", "-c", "sleep 3600"], readinessProbe: probe },
      {
        name: "plain",
        env,
        command: ["sh", "-c", 'echo "plain sees $DB_PASS"; sleep 3600'],
        readinessProbe: probe,
      },
    ]));
    const status = (p: PodObject, c: string) =>
      p.status?.containerStatuses?.find((s) => s.name === c);
    const p = await w.pods.waitFor(name, "app Ready", (p) => status(p, "app")?.ready === true);
    assertEquals(status(p, "plain")?.ready, false, "the skipped container's probe has no secret");
    assert(!isReady(p), "the Pod is not Ready while one container is not");
    const log = await w.pods.waitForLog(name, (l) => l.includes("plain sees"), 30_000, "plain");
    assertStringIncludes(log, "plain sees secrets-store:demo-kv/data/myapp-secret#DB_PASS");
  },
);

example(
  "myapp2 with mutate-probes: an exec liveness probe every second for a minute passes with the app's values, and the store sees no request from it",
  (w) => probedForAMinute(w, "myapp2-probed", {}),
);

example(
  "myapp2 with mutate-probes and restart-on-secret-change, as a non-root user: the probe takes the values from the supervisor's child, and the store sees no request from it",
  // The first poll comes after 7 minutes at the earliest (10m, -30 % jitter): within the
  // minute every store request would be a probe's.
  (w) =>
    probedForAMinute(w, "myapp2-probed-watch", {
      [A + "restart-on-secret-change"]: "watch-for-data",
      [A + "secret-poll-interval"]: "10m",
    }, { runAsUser: 65532, runAsGroup: 65532, runAsNonRoot: true }),
);

/** The guide's myapp2 with an exec liveness probe every second that checks the injected
 * values (and counts its runs in a file the app prints), for a minute: the probe passes
 * throughout and not one store request is made with the role's tokens but the app's start. */
async function probedForAMinute(
  w: World,
  name: string,
  annotations: Record<string, string>,
  securityContext?: Record<string, unknown>,
) {
  // A role of its own, so the audit log's requests of this Pod can be told from the others'.
  const role = `${name}-role`;
  await w.store("PUT", `auth/kubernetes_local/role/${role}`, {
    bound_service_account_names: GUIDE.serviceAccount,
    bound_service_account_namespaces: NS,
    policies: GUIDE.policy,
    ttl: "10m",
  });
  const check = `test -n "$DB_PASS" && test "$DB_USER" = ${GUIDE.data.DB_USER} && ` +
    `test "$DB_PASS" = ${GUIDE.data.DB_PASS} && echo run >> /tmp/probe-runs`;
  await w.pods.create(guidePod(w, name, {
    [A + "role"]: role,
    [A + "mutate-probes"]: "true",
    ...annotations,
  }, [{
    name: "myapp",
    env: [
      { name: "DB_USER", value: "secrets-store:demo-kv/data/myapp-secret#DB_USER" },
      { name: "DB_PASS", value: "secrets-store:demo-kv/data/myapp-secret#DB_PASS" },
    ],
    // The guide's printenv loop, which also prints how many probe runs passed so far.
    command: [
      "sh",
      "-c",
      'while printenv; do echo "PROBE_RUNS=$(cat /tmp/probe-runs 2>/dev/null | wc -l)"; sleep 5; done',
    ],
    // From 1 s on: a probe run while PID 1 is still resolving asks the store (docs/inject.md,
    // "Exec probes"), and would be counted as the app's start below.
    livenessProbe: {
      exec: { command: ["sh", "-c", check] },
      initialDelaySeconds: 1,
      periodSeconds: 1,
      failureThreshold: 1,
    },
    ...(securityContext ? { securityContext } : {}),
  }]));
  const runs = async () => Number(lastEnv(await w.pods.logs(name)).PROBE_RUNS ?? "0");
  await w.pods.waitForLog(name, (l) => /PROBE_RUNS=[1-9]/.test(l), 90_000);
  const env = lastEnv(await w.pods.logs(name));
  assertEquals([env.DB_USER, env.DB_PASS], [GUIDE.data.DB_USER, GUIDE.data.DB_PASS]);
  // The app's start: one login, its read, one revoke (none in a watch mode, whose
  // supervisor keeps its login for the app's life).
  const start = await requestsOf(w, role);
  assertEquals(start.filter((r) => r.endsWith("/login")), ["update auth/kubernetes_local/login"]);
  assertEquals(start.filter((r) => r.startsWith("read demo-kv/")), [
    "read demo-kv/data/myapp-secret",
  ]);
  const watched = (A + "restart-on-secret-change") in annotations;
  assertEquals(start.filter((r) => r.endsWith("revoke-self")).length, watched ? 0 : 1);
  const runsBefore = await runs();
  await new Promise((r) => setTimeout(r, 60_000));
  assertEquals((await requestsOf(w, role)).slice(start.length), [], "a probe run asked the store");
  const c = (await w.pods.get(name)).status?.containerStatuses?.[0];
  assertEquals([c?.restartCount, Object.keys(c?.state ?? {})], [0, ["running"]]);
  const events = await w.pods.events(name);
  assertEquals(
    events.filter((e) => /unhealthy|probe (failed|errored)/i.test(e)),
    [],
    events.join("\n"),
  );
  // About 60 passed in the minute (counted up to the app's last print, at most 5 s ago); at
  // least half, or a minute without a request would prove little.
  const passed = (await runs()) - runsBefore;
  assert(passed >= 30, `only ${passed} probe runs passed in the minute`);
}

/** Each store request made with a token of `role`, as "<operation> <path>", from OpenBao's
 * audit log: a login is counted by its answer (the request carries no token yet, its answer
 * names the role), every other request as it was sent. */
async function requestsOf(w: World, role: string): Promise<string[]> {
  const text = await Deno.readTextFile(w.product.bao.auditLog);
  const out: string[] = [];
  for (const line of text.trim().split("\n")) {
    const e = JSON.parse(line) as {
      type: string;
      auth?: { metadata?: { role?: string } | null };
      request?: { operation: string; path: string };
    };
    if (e.auth?.metadata?.role !== role || !e.request) continue;
    const login = e.request.path.endsWith("/login");
    if (e.type === (login ? "response" : "request")) {
      out.push(`${e.request.operation} ${e.request.path}`);
    }
  }
  return out;
}

envExample(
  "ignore-missing-secrets starts the app anyway; without it the container fails, naming the path",
  async (w) => {
    const env = [{ name: "GONE", value: "secrets-store:demo-kv/data/no-such-secret#KEY" }];
    const started = ["sh", "-c", 'echo "app started, GONE=[$GONE]"; sleep 3600'];
    const log = await runToLog(
      w,
      guidePod(w, "myapp-ignore", {
        [A + "role"]: "myapp-role",
        [A + "ignore-missing-secrets"]: "true",
      }, [{ name: "myapp", env, command: started }]),
      (l) => l.includes("app started"),
    );
    assertStringIncludes(log, "demo-kv/data/no-such-secret");
    const name = "myapp-strict";
    await w.pods.create(
      guidePod(
        w,
        name,
        { [A + "role"]: "myapp-role" },
        [{ name: "myapp", env, command: started }],
        {
          restartPolicy: "Never",
        },
      ),
    );
    const p = await w.pods.waitFor(name, "failed", (p) => p.status?.phase === "Failed");
    const strictLog = await w.pods.logs(name);
    assert(!strictLog.includes("app started"), `the app must not start:\n${strictLog}`);
    assertStringIncludes(strictLog, "demo-kv/data/no-such-secret");
    assertEquals(p.status?.phase, "Failed");
  },
);

envExample("tls-secret: the store's CA comes from the Secret's ca.crt", async (w) => {
  const api = w.cluster.api;
  const wrong = await makeCa(base!, "not-the-store-ca");
  for (const [name, ca] of [["store-ca", w.product.bao.caCert], ["wrong-ca", wrong.cert]]) {
    await api("POST", `/api/v1/namespaces/${NS}/secrets`, {
      metadata: { name },
      stringData: { "ca.crt": ca },
    }, [409]);
  }
  const env = [{ name: "DB_PASS", value: "secrets-store:demo-kv/data/myapp-secret#DB_PASS" }];
  const log = await runToLog(
    w,
    guidePod(w, "myapp-tls", { [A + "role"]: "myapp-role", [A + "tls-secret"]: "store-ca" }, [{
      name: "myapp",
      env,
      command: PRINTENV,
    }]),
    (l) => l.includes("DB_PASS="),
  );
  assertEquals(lastEnv(log).DB_PASS, GUIDE.data.DB_PASS);
  const name = "myapp-wrong-ca";
  await w.pods.create(
    guidePod(w, name, { [A + "role"]: "myapp-role", [A + "tls-secret"]: "wrong-ca" }, [{
      name: "myapp",
      env,
      command: PRINTENV,
    }], { restartPolicy: "Never" }),
  );
  await w.pods.waitFor(name, "failed", (p) => p.status?.phase === "Failed");
  assertStringIncludes((await w.pods.logs(name)).toLowerCase(), "certificate");
});

envExample(
  "log-level debug and enable-json-log make the injector log JSON lines, debug included",
  async (w) => {
    const log = await runToLog(
      w,
      guidePod(w, "myapp-json-log", {
        [A + "role"]: "myapp-role",
        [A + "log-level"]: "debug",
        [A + "enable-json-log"]: "true",
      }, [{
        name: "myapp",
        env: [{ name: "DB_PASS", value: "secrets-store:demo-kv/data/myapp-secret#DB_PASS" }],
        command: PRINTENV,
      }]),
      (l) => l.includes("DB_PASS="),
    );
    const lines = log.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
    assert(lines.length > 0, `no JSON line from the injector:\n${log}`);
    assert(lines.some((l) => l.level === "debug"), `no debug line:\n${log}`);
    assert(!log.split("\n").some((l) => l.startsWith("{") && l.includes(GUIDE.data.DB_PASS)));
  },
);

envExample("remote-kube-1: login through the second auth path", async (w) => {
  const log = await runToLog(
    w,
    guidePod(w, "myapp-remote", {
      [A + "role"]: "myapp-role",
      [A + "auth-path"]: "remote-kube-1",
    }, [{
      name: "myapp",
      env: [{ name: "DB_PASS", value: "secrets-store:demo-kv/data/myapp-secret#DB_PASS" }],
      command: PRINTENV,
    }]),
    (l) => l.includes("DB_PASS="),
  );
  assertEquals(lastEnv(log).DB_PASS, GUIDE.data.DB_PASS);
  const audit = await Deno.readTextFile(w.product.bao.auditLog);
  assertStringIncludes(audit, '"path":"auth/remote-kube-1/login"');
});

envExample(
  "templates: a key template and inline references build a connection string",
  async (w) => {
    const log = await runToLog(
      w,
      guidePod(w, "myapp-template", { [A + "role"]: "myapp-role" }, [{
        name: "myapp",
        env: [
          {
            name: "DB_URL",
            value:
              "secrets-store:demo-kv/data/myapp-secret#postgresql://${.DB_USER}:${.DB_PASS | urlquery}@db:5432/app",
          },
          {
            name: "DB_INLINE",
            value:
              "${secrets-store:demo-kv/data/myapp-secret#DB_USER}@${secrets-store:demo-kv/data/common-secret#REGION}",
          },
        ],
        command: PRINTENV,
      }]),
      (l) => l.includes("DB_INLINE="),
    );
    const env = lastEnv(log);
    assertEquals(
      env.DB_URL,
      `postgresql://${GUIDE.data.DB_USER}:${encodeURIComponent(GUIDE.data.DB_PASS)}@db:5432/app`,
    );
    assertEquals(env.DB_INLINE, `${GUIDE.data.DB_USER}@${GUIDE.common.REGION}`);
  },
);

// Every example above once more with the other delivery (the chart's injector.delivery copy).
repeatUnderCopy();

/** The guide's SecretsStoreImport, created as `d8 k create -f` would. */
async function createSsi(w: World, name: string, files: unknown[]) {
  await w.cluster.api("POST", `/apis/deckhouse.io/v1alpha1/namespaces/${NS}/secretsstoreimports`, {
    apiVersion: "deckhouse.io/v1alpha1",
    kind: "SecretsStoreImport",
    metadata: { name, namespace: NS },
    spec: { type: "CSI", role: "myapp-role", files },
  });
}

function csiVolume(name: string, ssi: string) {
  return { name, csi: { driver: DRIVER, volumeAttributes: { secretsStoreImport: ssi } } };
}

example("myapp3: the SecretsStoreImport myapp-ssi mounts db-password into the Pod", async (w) => {
  await createSsi(w, "myapp-ssi", [{
    name: "db-password",
    source: { path: "demo-kv/data/myapp-secret", key: "DB_PASS" },
  }]);
  const log = await runToLog(
    w,
    guidePod(w, "myapp3", {}, [{
      name: "backend",
      command: ["sh", "-c", "while cat /mnt/secrets/db-password; do echo; sleep 5; done"],
      volumeMounts: [{ name: "secrets", mountPath: "/mnt/secrets" }],
    }], { volumes: [csiVolume("secrets", "myapp-ssi")] }),
    (l) => l.includes(GUIDE.data.DB_PASS),
  );
  assertStringIncludes(log, GUIDE.data.DB_PASS);
});

example(
  "templates: a config file from two paths and the whole secret as JSON, mode 0400",
  async (w) => {
    await createSsi(w, "myapp-template-ssi", [
      {
        name: "app.conf",
        sources: {
          app: { path: "demo-kv/data/myapp-secret" },
          common: { path: "demo-kv/data/common-secret" },
        },
        template: "user=${.app.DB_USER}\npass=${.app.DB_PASS | quote}\nregion=${.common.REGION}\n",
        mode: "0400",
      },
      { name: "all.json", source: { path: "demo-kv/data/common-secret" }, format: "json" },
    ]);
    const log = await runToLog(
      w,
      guidePod(w, "myapp-template-file", {}, [{
        name: "backend",
        command: [
          "sh",
          "-c",
          "stat -c '%a' /mnt/secrets/app.conf; cat /mnt/secrets/app.conf /mnt/secrets/all.json; echo END; sleep 3600",
        ],
        volumeMounts: [{ name: "secrets", mountPath: "/mnt/secrets" }],
      }], { volumes: [csiVolume("secrets", "myapp-template-ssi")] }),
      (l) => l.includes("END"),
    );
    const [mode, ...rest] = log.trim().split("\n");
    assertEquals(mode, "400");
    const text = rest.join("\n");
    assertStringIncludes(
      text,
      `user=${GUIDE.data.DB_USER}\npass="${GUIDE.data.DB_PASS}"\nregion=${GUIDE.common.REGION}\n`,
    );
    assertEquals(
      JSON.parse(text.slice(text.indexOf("{"), text.lastIndexOf("}") + 1)),
      { ...GUIDE.common, MY_SECRET: "from-path" }, // the whole secret as setUp() wrote it
    );
  },
);

example(
  "the keytab with decodeBase64 arrives byte for byte; invalid base64 keeps the container from being created",
  async (w) => {
    await createSsi(w, "keytab-ssi", [{
      name: "keytab",
      decodeBase64: true,
      source: { path: "demo-kv/data/myapp-secret", key: "keytab" },
    }]);
    const log = await runToLog(
      w,
      guidePod(w, "myapp-keytab", {}, [{
        name: "backend",
        command: [
          "sh",
          "-c",
          "od -An -v -tx1 /mnt/secrets/keytab | tr -d ' \\n'; echo; sleep 3600",
        ],
        volumeMounts: [{ name: "secrets", mountPath: "/mnt/secrets" }],
      }], { volumes: [csiVolume("secrets", "keytab-ssi")] }),
      (l) => l.trim().length >= KEYTAB.length * 2,
    );
    const hex = Array.from(KEYTAB, (b) => b.toString(16).padStart(2, "0")).join("");
    assertEquals(log.trim().split("\n")[0], hex);

    await createSsi(w, "bad-keytab-ssi", [{
      name: "keytab",
      decodeBase64: true,
      source: { path: "demo-kv/data/myapp-secret", key: "bad" },
    }]);
    const name = "myapp-bad-keytab";
    await w.pods.create(guidePod(w, name, {}, [{
      name: "backend",
      command: ["sh", "-c", "echo started; sleep 3600"],
      volumeMounts: [{ name: "secrets", mountPath: "/mnt/secrets" }],
    }], { volumes: [csiVolume("secrets", "bad-keytab-ssi")] }));
    let events: string[] = [];
    await w.pods.explain(name, async () => {
      const deadline = Date.now() + 60_000;
      while (!events.some((e) => e.startsWith("FailedMount") && e.includes("keytab"))) {
        if (Date.now() > deadline) throw new Error("no FailedMount event naming the file");
        await new Promise((r) => setTimeout(r, 1000));
        events = await w.pods.events(name);
      }
    });
    const failed = events.find((e) => e.startsWith("FailedMount"))!;
    assertStringIncludes(failed.toLowerCase(), "base64");
    const p = await w.pods.get(name);
    assertEquals(p.status?.containerStatuses?.[0]?.state?.waiting?.reason, "ContainerCreating");
  },
);

example(
  "autorotation: the file changes within a period, its mtime moves, inotify sees IN_MODIFY; a subPath copy follows",
  async (w) => {
    await createSsi(w, "rotating-ssi", [{
      name: "token",
      source: { path: "demo-kv/data/e2e/rotating", key: "TOKEN" },
    }]);
    const name = "myapp-rotation";
    const script = [
      "while true; do",
      '  echo "value=$(cat /mnt/secrets/token) mtime=$(stat -c %Y /mnt/secrets/token) sub=$(cat /mnt/sub/token)"',
      "  sleep 1",
      "done",
    ].join("\n");
    await w.pods.create(guidePod(w, name, {}, [{
      name: "backend",
      command: ["sh", "-c", script],
      volumeMounts: [
        { name: "secrets", mountPath: "/mnt/secrets" },
        { name: "secrets", mountPath: "/mnt/sub/token", subPath: "token" },
      ],
    }], { volumes: [csiVolume("secrets", "rotating-ssi")] }));
    const before = await w.pods.waitForLog(name, (l) => l.includes("value=first"));
    const mtime0 = before.match(/value=first mtime=(\d+)/)![1];
    // The guide's Python watch, on the very file the container reads: the volume as the
    // kubelet mounted it on the node (the image has no Python, and its busybox no inotifyd).
    const uid = (await w.pods.get(name)).metadata.uid;
    const file =
      `${w.cluster.kubeletDir}/pods/${uid}/volumes/kubernetes.io~csi/secrets/mount/token`;
    const watch = await watchFile(file, 60);
    try {
      await new Promise((r) => setTimeout(r, 1100)); // so the new mtime is a later second
      await w.store("PUT", "demo-kv/data/e2e/rotating", { data: { TOKEN: "second" } });
      const after = await w.pods.waitForLog(
        name,
        (l) => l.includes("value=second"),
        (w.product.rotationSeconds * 2 + 10) * 1000,
      );
      const line = after.split("\n").find((l) => l.startsWith("value=second"))!;
      const mtime1 = line.match(/mtime=(\d+)/)![1];
      assert(Number(mtime1) > Number(mtime0), `mtime did not move: ${mtime0} -> ${mtime1}`);
      // The guide calls subPath files never updated; here the first inode, which a subPath
      // mount pins, is rewritten after the swap (docs/csi.md, "subPath").
      await w.pods.waitForLog(name, (l) => l.includes("sub=second"), 10_000);
      await waitUntil("IN_MODIFY on the file", () =>
        Promise.resolve(
          watch.lines.some((l) => l.includes("IN_MODIFY")),
        ), 10_000);
      // What `kubectl describe pod` shows: the rotation, naming the file and not its value.
      const rotated = await podEvents(w, name, uid, (e) => e.reason === "SecretRotated");
      assertEquals(rotated.type, "Normal");
      assertStringIncludes(
        rotated.message,
        `SecretsStoreImport ${NS}/rotating-ssi: files rotated: token`,
      );
      assert(!rotated.message.includes("second"), rotated.message);
    } finally {
      await watch.stop();
    }
  },
);

/** Core v1 Events as `kubectl describe pod` lists them (involvedObject kind, name and, for
 * a Pod that exists, uid) or, without a uid, as `kubectl events --for pod/<name>` does;
 * waits for one that `match` accepts. */
async function podEvents(
  w: World,
  name: string,
  uid: string | undefined,
  match: (e: CoreEvent) => boolean,
  timeoutMs = 60_000,
): Promise<CoreEvent> {
  const selector = `involvedObject.kind=Pod,involvedObject.name=${name}` +
    (uid ? `,involvedObject.uid=${uid}` : "");
  let found: CoreEvent | undefined;
  let seen: CoreEvent[] = [];
  await waitUntil(`an event of Pod ${name}`, async () => {
    seen = (await w.cluster.api<{ items: CoreEvent[] }>(
      "GET",
      `/api/v1/namespaces/${NS}/events?fieldSelector=${encodeURIComponent(selector)}`,
    )).items;
    found = seen.find(match);
    return found !== undefined;
  }, timeoutMs).catch((e) => {
    throw new Error(
      `${(e as Error).message}; events: ${
        seen.map((x) => `${x.reason}: ${x.message}`).join(" | ")
      }`,
    );
  });
  return found!;
}

interface CoreEvent {
  type: string;
  reason: string;
  message: string;
  count?: number;
  series?: { count: number };
}

example(
  "a failed rotation is a Warning on the Pod naming the file and the store error kind",
  async (w) => {
    await w.store("PUT", "demo-kv/data/e2e/failing", { data: { TOKEN: "will-go" } });
    await createSsi(w, "failing-ssi", [{
      name: "token",
      source: { path: "demo-kv/data/e2e/failing", key: "TOKEN" },
    }]);
    const name = "myapp-failing-rotation";
    await w.pods.create(guidePod(w, name, {}, [{
      name: "backend",
      command: ["sh", "-c", "while true; do cat /mnt/secrets/token; echo; sleep 1; done"],
      volumeMounts: [{ name: "secrets", mountPath: "/mnt/secrets" }],
    }], { volumes: [csiVolume("secrets", "failing-ssi")] }));
    await w.pods.waitForLog(name, (l) => l.includes("will-go"));
    const uid = (await w.pods.get(name)).metadata.uid;
    await w.store("DELETE", "demo-kv/metadata/e2e/failing");
    const failed = await podEvents(
      w,
      name,
      uid,
      (e) => e.reason === "SecretRotationFailed",
      (w.product.rotationSeconds * 2 + 30) * 1000,
    );
    assertEquals(failed.type, "Warning");
    assertStringIncludes(
      failed.message,
      `SecretsStoreImport ${NS}/failing-ssi, file "token": not_found:`,
    );
    assert(!failed.message.includes("will-go"), failed.message);
    // The last good file stays.
    assertStringIncludes(await w.pods.logs(name), "will-go");
  },
);

example(
  "a denied Pod is an InjectionDenied Warning naming the annotation, found by the Pod's name",
  async (w) => {
    const name = "myapp-denied";
    const res = await w.cluster.api<{ code?: number; message?: string }>(
      "POST",
      `/api/v1/namespaces/${NS}/pods`,
      guidePod(w, name, { [A + "role"]: GUIDE.role, [A + "client-timeout"]: "soon" }, [{
        name: "backend",
        command: ["sh", "-c", "sleep 3600"],
      }]),
      [400],
    );
    assertEquals(res.code, 400, res.message);
    assertStringIncludes(res.message!, `${A}client-timeout`);
    assertStringIncludes(res.message!, "see docs/troubleshooting.md#webhook-denied");
    const denied = await podEvents(w, name, undefined, (e) => e.reason === "InjectionDenied");
    assertEquals(denied.type, "Warning");
    assertStringIncludes(denied.message, `${A}client-timeout`);
  },
);

example(
  "a misspelt annotation is admitted with the warning kubectl prints and an UnknownAnnotation event",
  async (w) => {
    const name = "myapp-misspelt";
    const pod = guidePod(w, name, {
      [A + "role"]: GUIDE.role,
      [A + "env-form-path"]: GUIDE.commonPath,
    }, [{
      name: "backend",
      command: ["sh", "-c", "sleep 3600"],
    }]);
    const client = Deno.createHttpClient({ caCerts: [w.cluster.caCert] });
    let warning: string;
    try {
      const res = await fetch(`${w.cluster.url}/api/v1/namespaces/${NS}/pods`, {
        method: "POST",
        client,
        headers: {
          authorization: `Bearer ${w.cluster.adminToken}`,
          "content-type": "application/json",
        },
        body: JSON.stringify({ apiVersion: "v1", kind: "Pod", ...pod }),
      });
      const created = await res.json();
      assertEquals(res.status, 201, JSON.stringify(created));
      w.pods.track(name);
      warning = res.headers.get("warning") ?? "";
      assertStringIncludes(created.metadata.annotations[`${A}injected`], "; delivery=");
    } finally {
      client.close();
    }
    assertStringIncludes(warning, `did you mean ${A}env-from-path?`);
    const e = await podEvents(w, name, undefined, (e) => e.reason === "UnknownAnnotation");
    assertEquals(e.type, "Warning");
    assertStringIncludes(e.message, `${A}env-form-path`);
  },
);

example("deleting a Pod unmounts its volume and leaves nothing of it on the node", async (w) => {
  const name = "myapp-delete";
  await w.pods.create(guidePod(w, name, {}, [{
    name: "backend",
    command: ["sh", "-c", "cat /mnt/secrets/db-password; echo; sleep 3600"],
    volumeMounts: [{ name: "secrets", mountPath: "/mnt/secrets" }],
  }], { volumes: [csiVolume("secrets", "myapp-ssi")] }));
  const log = await w.pods.waitForLog(name, (l) => l.includes(GUIDE.data.DB_PASS));
  assertStringIncludes(log, GUIDE.data.DB_PASS);
  const uid = (await w.pods.get(name)).metadata.uid;
  assert(w.cluster.mounts().some((m) => m.includes(uid)), "the volume is mounted while it runs");
  await w.pods.delete(name);
  await w.pods.explain(name, async () => {
    const deadline = Date.now() + 30_000;
    while (w.cluster.mounts().some((m) => m.includes(uid))) {
      if (Date.now() > deadline) {
        throw new Error(`still mounted: ${w.cluster.mounts().filter((m) => m.includes(uid))}`);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  });
  const podDir = `${w.cluster.kubeletDir}/pods/${uid}`;
  const gone = await Deno.stat(podDir).then(() => false, () => true);
  assert(gone || (await volumesLeft(podDir)) === 0, `the kubelet left ${podDir} behind`);
});

async function volumesLeft(podDir: string): Promise<number> {
  let n = 0;
  try {
    for await (const _ of Deno.readDir(`${podDir}/volumes/kubernetes.io~csi`)) n++;
  } catch { /* gone */ }
  return n;
}

Deno.test({
  name: "stop the e2e cluster; nothing is left mounted",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    if (!world) return;
    const w = await world;
    await w.product.bao.stop();
    await w.cluster.stop({ keepLogsIn: Deno.env.get("E2E_KEEP_LOGS") });
    await Deno.remove(base!, { recursive: true });
  },
});
