import type { StorePath } from "../config/store_path.ts";
import { TEST_ONLY_ENV } from "../config/injector_env.ts";
import {
  assert,
  assertEquals,
  assertStringIncludes,
  assertThrows,
} from "../../tests/harness/assert.ts";
import { type Pod, PodSchema } from "../kube/pod.ts";
import { readPodOptions } from "./annotations.ts";
import {
  type ImageCommand,
  imagesNeeded,
  INIT_CONTAINER,
  INJECTOR_VOLUME,
  isMutated,
  mutatePod,
  MutationError,
} from "./mutate.ts";
import { podPatch } from "./patch.ts";
import { VERSION } from "../version.ts";

const LAUNCH = ["/run/secrets-store/secrets-store", "inject", "--"];
/** A wrapped exec probe is marked, so it may take the app's values (lib/inject/probe_env.ts). */
const PROBE_LAUNCH = ["/run/secrets-store/secrets-store", "inject", "--probe", "--"];
const DEFAULTS = {
  address: "https://stronghold.d8-stronghold.svc:8300",
  authPath: "kubernetes_local" as StorePath,
  allowInsecureHttp: false,
  caCert: "PEM",
};
const INJECTOR = { image: "registry.example/secrets-store:1.0", imagePullPolicy: "IfNotPresent" };

function pod(spec: Record<string, unknown>, annotations: Record<string, string> = {}): Pod {
  return PodSchema.parse({
    metadata: {
      name: "myapp",
      annotations: { "secrets-store.deckhouse.io/role": "myapp-role", ...annotations },
    },
    spec,
  });
}

function mutate(p: Pod, images: Record<string, ImageCommand> = {}): Pod {
  return mutatePod(p, {
    options: readPodOptions(p.metadata.annotations ?? {}),
    defaults: DEFAULTS,
    injector: INJECTOR,
    images: new Map(Object.entries(images)),
  });
}

const env = (c: { env?: Array<{ name: string; value?: string | undefined }> | undefined }) =>
  Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));

Deno.test("mutatePod() starts a container with a command through the injector, args untouched", () => {
  const m = mutate(
    pod({
      containers: [{
        name: "app",
        image: "alpine:3.20",
        command: ["sh", "-c"],
        args: ["printenv"],
      }],
    }),
  );
  const c = m.spec.containers[0]!;
  assertEquals(c.command, [...LAUNCH, "sh", "-c"]);
  assertEquals(c.args, ["printenv"]);
  assertEquals(c.volumeMounts, [{
    name: INJECTOR_VOLUME,
    mountPath: "/run/secrets-store",
    readOnly: true,
  }]);
});

Deno.test("mutatePod() adds the copy-self init container first, restricted and without a CPU limit", () => {
  const m = mutate(pod({
    initContainers: [{ name: "migrate", image: "app", command: ["migrate"] }],
    containers: [{ name: "app", image: "app", command: ["run"] }],
  }));
  const [first, second] = m.spec.initContainers!;
  assertEquals(first!.name, INIT_CONTAINER);
  assertEquals(first!.image, INJECTOR.image);
  assertEquals(first!.command, [
    "/usr/local/bin/secrets-store",
    "copy-self",
    "/run/secrets-store",
  ]);
  assertEquals(first!.securityContext, {
    runAsNonRoot: true,
    runAsUser: 65532,
    runAsGroup: 65532,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
  });
  assertEquals((first!.resources as { limits: Record<string, string> }).limits, {
    memory: "128Mi",
  });
  // An init container without templates in its env is left alone.
  assertEquals(second, { name: "migrate", image: "app", command: ["migrate"] });
  assertEquals(m.spec.volumes, [{ name: INJECTOR_VOLUME, emptyDir: { sizeLimit: "256Mi" } }]);
});

Deno.test("mutatePod() follows Kubernetes command/args semantics for images without a command", () => {
  const img = {
    "app:1": { entrypoint: ["/docker-entrypoint.sh"], cmd: ["nginx", "-g", "daemon off;"] },
  };
  const cases: Array<[Record<string, unknown>, string[], string[]]> = [
    [{}, [...LAUNCH, "/docker-entrypoint.sh"], ["nginx", "-g", "daemon off;"]],
    [{ args: ["nginx", "-T"] }, [...LAUNCH, "/docker-entrypoint.sh"], ["nginx", "-T"]],
    [{ command: [], args: [] }, [...LAUNCH, "/docker-entrypoint.sh"], [
      "nginx",
      "-g",
      "daemon off;",
    ]],
  ];
  for (const [extra, command, args] of cases) {
    const c = mutate(pod({ containers: [{ name: "app", image: "app:1", ...extra }] }), img).spec
      .containers[0]!;
    assertEquals([c.command, c.args], [command, args], JSON.stringify(extra));
  }
  const cmdOnly = mutate(pod({ containers: [{ name: "app", image: "busybox" }] }), {
    busybox: { entrypoint: [], cmd: ["sh"] },
  }).spec.containers[0]!;
  assertEquals([cmdOnly.command, cmdOnly.args], [LAUNCH, ["sh"]]);
});

Deno.test("mutatePod() refuses an image with neither ENTRYPOINT nor CMD, naming container and image", () => {
  const e = assertThrows(
    () =>
      mutate(pod({ containers: [{ name: "app", image: "scratch-app" }] }), {
        "scratch-app": { entrypoint: [], cmd: [] },
      }),
    MutationError,
  );
  assertStringIncludes(e.message, 'container "app"');
  assertStringIncludes(e.message, 'image "scratch-app"');
  assertStringIncludes(e.message, 'set "command"');
});

Deno.test("imagesNeeded() lists only mutated containers without a command", () => {
  const p = pod({
    containers: [
      { name: "a", image: "img-a" },
      { name: "b", image: "img-b", command: ["x"] },
      { name: "c", image: "img-c" },
    ],
  }, { "secrets-store.deckhouse.io/skip-mutate-containers": "c" });
  assertEquals(imagesNeeded(p, readPodOptions(p.metadata.annotations!)), [{
    container: "a",
    image: "img-a",
  }]);
});

Deno.test("mutatePod() writes every annotation into the injector's settings", () => {
  const m = mutate(
    pod({
      containers: [{
        name: "app",
        image: "i",
        command: ["run"],
        env: [{ name: "KEEP", value: "1" }],
      }],
    }, {
      "secrets-store.deckhouse.io/addr": "https://stronghold.mycompany.tld:8200",
      "secrets-store.deckhouse.io/auth-path": "remote-kube-1",
      "secrets-store.deckhouse.io/namespace": "team-a",
      "secrets-store.deckhouse.io/tls-skip-verify": "true",
      "secrets-store.deckhouse.io/env-from-path":
        "demo-kv/data/common-secret,demo-kv/data/myapp-secret",
      "secrets-store.deckhouse.io/ignore-missing-secrets": "true",
      "secrets-store.deckhouse.io/client-timeout": "30s",
      "secrets-store.deckhouse.io/log-level": "debug",
      "secrets-store.deckhouse.io/enable-json-log": "true",
      "secrets-store.deckhouse.io/revoke-token": "false",
    }),
  );
  assertEquals(env(m.spec.containers[0]!), {
    KEEP: "1",
    SECRETS_STORE_ADDR: "https://stronghold.mycompany.tld:8200",
    SECRETS_STORE_ROLE: "myapp-role",
    SECRETS_STORE_AUTH_PATH: "remote-kube-1",
    SECRETS_STORE_NAMESPACE: "team-a",
    SECRETS_STORE_CA_CERT: "PEM",
    SECRETS_STORE_TLS_SKIP_VERIFY: "true",
    SECRETS_STORE_IGNORE_MISSING_SECRETS: "true",
    SECRETS_STORE_REVOKE_TOKEN: "false",
    SECRETS_STORE_CLIENT_TIMEOUT: "30s",
    SECRETS_STORE_LOG_LEVEL: "debug",
    SECRETS_STORE_JSON_LOG: "true",
    SECRETS_STORE_ENV_FROM_PATH: "demo-kv/data/common-secret,demo-kv/data/myapp-secret",
    SECRETS_STORE_ALLOW_LOGIN_TOKEN: "false",
    SECRETS_STORE_APP_LD_LIBRARY_PATH: "",
    LD_LIBRARY_PATH: "/run/secrets-store/lib",
  });
});

Deno.test("mutatePod() uses the installation's defaults when annotations are absent", () => {
  const m = mutate(pod({ containers: [{ name: "app", image: "i", command: ["run"] }] }));
  assertEquals(env(m.spec.containers[0]!), {
    SECRETS_STORE_ADDR: DEFAULTS.address,
    SECRETS_STORE_ROLE: "myapp-role",
    SECRETS_STORE_AUTH_PATH: "kubernetes_local",
    SECRETS_STORE_CA_CERT: "PEM",
    SECRETS_STORE_ALLOW_LOGIN_TOKEN: "false",
    SECRETS_STORE_REVOKE_TOKEN: "true",
    SECRETS_STORE_APP_LD_LIBRARY_PATH: "",
    LD_LIBRARY_PATH: "/run/secrets-store/lib",
  });
});

Deno.test("mutatePod() takes revocation from injector.revokeToken; the annotation overrides it, a Pod's own variable does not", () => {
  const revoke = (installation: boolean | undefined, annotations: Record<string, string> = {}) => {
    const p = pod({
      containers: [{
        name: "app",
        image: "i",
        command: ["run"],
        // Set by the Pod itself: replaced by what the installation and annotation say.
        env: [{ name: "SECRETS_STORE_REVOKE_TOKEN", value: installation ? "false" : "true" }],
      }],
    }, annotations);
    const injector = { ...INJECTOR, revokeToken: installation };
    const m = mutatePod(p, {
      options: readPodOptions(p.metadata.annotations ?? {}, {
        allowInsecureHttp: false,
        revokeToken: injector.revokeToken,
      }),
      defaults: DEFAULTS,
      injector,
      images: new Map(),
    });
    const vars = m.spec.containers[0]!.env!.filter((e) => e.name === "SECRETS_STORE_REVOKE_TOKEN");
    assertEquals(vars.length, 1, "one variable, the webhook's");
    return vars[0]!.value;
  };
  assertEquals(revoke(undefined), "true");
  assertEquals(revoke(true), "true");
  assertEquals(revoke(false), "false");
  const A = "secrets-store.deckhouse.io/revoke-token";
  assertEquals(revoke(false, { [A]: "true" }), "true");
  assertEquals(revoke(true, { [A]: "false" }), "false");
});

Deno.test("mutatePod() passes connection.allowInsecureHttp to the injector only when it is on", () => {
  const p = pod({ containers: [{ name: "app", image: "i", command: ["run"] }] }, {
    "secrets-store.deckhouse.io/addr": "http://store:8200",
  });
  const defaults = { ...DEFAULTS, allowInsecureHttp: true };
  const m = mutatePod(p, {
    options: readPodOptions(p.metadata.annotations ?? {}, defaults),
    defaults,
    injector: INJECTOR,
    images: new Map(),
  });
  const e = env(m.spec.containers[0]!);
  assertEquals([e.SECRETS_STORE_ADDR, e.SECRETS_STORE_ALLOW_INSECURE_HTTP], [
    "http://store:8200",
    "true",
  ]);
  const strict = env(
    mutate(pod({ containers: [{ name: "app", image: "i", command: ["run"] }] }))
      .spec.containers[0]!,
  );
  assertEquals(strict.SECRETS_STORE_ALLOW_INSECURE_HTTP, undefined);
});

Deno.test("mutatePod() keeps the app's LD_LIBRARY_PATH aside for the injector to restore", () => {
  const m = mutate(pod({
    containers: [{
      name: "app",
      image: "i",
      command: ["run"],
      env: [{ name: "LD_LIBRARY_PATH", value: "/opt/app/lib" }],
    }],
  }));
  const e = env(m.spec.containers[0]!);
  assertEquals([e.LD_LIBRARY_PATH, e.SECRETS_STORE_APP_LD_LIBRARY_PATH], [
    "/run/secrets-store/lib",
    "/opt/app/lib",
  ]);
});

Deno.test("mutatePod() mounts tls-secret's ca.crt and points the injector at it", () => {
  const m = mutate(pod({ containers: [{ name: "app", image: "i", command: ["run"] }] }, {
    "secrets-store.deckhouse.io/tls-secret": "store-ca",
  }));
  const c = m.spec.containers[0]!;
  assertEquals(env(c).SECRETS_STORE_CA_FILE, "/var/run/secrets-store-tls/ca.crt");
  assertEquals(env(c).SECRETS_STORE_CA_CERT, undefined);
  assert(
    c.volumeMounts!.some((v) =>
      v.mountPath === "/var/run/secrets-store-tls" && v.readOnly === true
    ),
  );
  assert(m.spec.volumes!.some((v) =>
    JSON.stringify(v) === JSON.stringify({
      name: "secrets-store-tls",
      secret: { secretName: "store-ca", items: [{ key: "ca.crt", path: "ca.crt" }] },
    })
  ));
});

Deno.test("mutatePod() replaces settings a container set itself, so the injector's are unambiguous", () => {
  const m = mutate(pod({
    containers: [{
      name: "app",
      image: "i",
      command: ["run"],
      env: [{ name: "SECRETS_STORE_ROLE", value: "sneaky" }],
    }],
  }));
  assertEquals(m.spec.containers[0]!.env!.filter((e) => e.name === "SECRETS_STORE_ROLE"), [
    { name: "SECRETS_STORE_ROLE", value: "myapp-role" },
  ]);
});

Deno.test("mutate-probes wraps exec probes only; httpGet, tcpSocket and grpc stay as they are", () => {
  const probes = {
    livenessProbe: { exec: { command: ["cat", "/tmp/healthy"] }, periodSeconds: 5 },
    readinessProbe: { httpGet: { path: "/ready", port: 8080 } },
    startupProbe: { grpc: { port: 9090 } },
  };
  const spec = {
    containers: [{ name: "app", image: "i", command: ["run"], ...probes }, {
      name: "b",
      image: "i",
      command: ["x"],
      livenessProbe: { tcpSocket: { port: 1 } },
    }],
  };
  const on =
    mutate(pod(spec, { "secrets-store.deckhouse.io/mutate-probes": "true" })).spec.containers;
  assertEquals(on[0]!.livenessProbe, {
    exec: { command: [...PROBE_LAUNCH, "cat", "/tmp/healthy"] },
    periodSeconds: 5,
  });
  assertEquals(on[0]!.readinessProbe, probes.readinessProbe);
  assertEquals(on[0]!.startupProbe, probes.startupProbe);
  assertEquals(on[1]!.livenessProbe, { tcpSocket: { port: 1 } });
  const off = mutate(pod(spec)).spec.containers;
  assertEquals(off[0]!.livenessProbe, probes.livenessProbe);
});

Deno.test("skip-mutate-containers leaves the named containers untouched", () => {
  const spec = {
    containers: [{ name: "app", image: "i", command: ["run"] }, {
      name: "proxy",
      image: "envoy",
      command: ["envoy"],
    }],
  };
  const m = mutate(
    pod(spec, { "secrets-store.deckhouse.io/skip-mutate-containers": "proxy other" }),
  );
  assertEquals(m.spec.containers[1], spec.containers[1]);
  assertEquals(m.spec.containers[0]!.command, [...LAUNCH, "run"]);
  const none = pod(spec, { "secrets-store.deckhouse.io/skip-mutate-containers": "app proxy" });
  assertEquals(mutate(none), none);
});

/** An app container and an init container with a template in its env. */
const WITH_MIGRATION = {
  initContainers: [{
    name: "db-migrate",
    image: "m",
    command: ["migrate"],
    env: [{ name: "P", value: "secrets-store:kv/data/db#P" }],
  }],
  containers: [{ name: "app", image: "i", command: ["run"] }],
};

Deno.test("init containers with templates in their env are mutated, after copy-self", () => {
  const m = mutate(pod(WITH_MIGRATION));
  assertEquals(m.spec.initContainers!.map((c) => c.name), [INIT_CONTAINER, "db-migrate"]);
  assertEquals(m.spec.initContainers![1]!.command, [...LAUNCH, "migrate"]);
});

Deno.test("an init container whose env holds an inline reference is mutated; ${HOME} alone is not", () => {
  const withInline = (value: string) => ({
    ...WITH_MIGRATION,
    initContainers: [{ ...WITH_MIGRATION.initContainers[0]!, env: [{ name: "U", value }] }],
  });
  const m = mutate(pod(withInline("postgres://${secrets-store:kv/data/db#user}@db")));
  assertEquals(m.spec.initContainers![1]!.command, [...LAUNCH, "migrate"]);
  const plain = mutate(pod(withInline("${HOME}/x")));
  assertEquals(plain.spec.initContainers![1]!.command, ["migrate"]);
});

Deno.test("isMutated() recognises a Pod the webhook already mutated", () => {
  const p = pod({ containers: [{ name: "app", image: "i", command: ["run"] }] });
  assertEquals(isMutated(p), false);
  assertEquals(isMutated(mutate(p)), true);
});

Deno.test("podPatch() turns the original into the mutated Pod, keeping unknown fields", () => {
  const p = pod({
    nodeSelector: { disk: "ssd" },
    volumes: [{ name: "data", persistentVolumeClaim: { claimName: "d" } }],
    containers: [{
      name: "app",
      image: "i",
      command: ["run"],
      resources: { limits: { cpu: "1" } },
    }],
  });
  const before = structuredClone(p);
  const m = mutate(p);
  assertEquals(p, before, "the input Pod must not change");
  const patched = structuredClone(p) as Record<string, unknown> & Pod;
  for (const op of podPatch(p, m)) {
    const [, top, field] = op.path.split("/") as [string, "spec" | "metadata", string];
    (patched[top] as Record<string, unknown>)[field] = op.value;
  }
  assertEquals(patched, m);
  assertEquals((m.spec as Record<string, unknown>).nodeSelector, { disk: "ssd" });
  assertEquals((m.spec.containers[0] as Record<string, unknown>).resources, {
    limits: { cpu: "1" },
  });
  assertEquals(podPatch(p, p), []);
});

Deno.test("a mutated Pod records the injector's version and delivery in the injected annotation, keeping its others", () => {
  const p = pod({ containers: [{ name: "app", image: "i", command: ["run"] }] });
  const m = mutate(p);
  assertEquals(m.metadata.annotations, {
    ...p.metadata.annotations,
    "secrets-store.deckhouse.io/injected": `${VERSION}; delivery=copy`,
  });
  assertEquals(p.metadata.annotations?.["secrets-store.deckhouse.io/injected"], undefined);
});

Deno.test("podPatch() leaves out the lists the mutation did not change", () => {
  const p = pod(WITH_MIGRATION, { "secrets-store.deckhouse.io/skip-mutate-containers": "app" });
  assertEquals(podPatch(p, mutate(p)).map((op) => op.path), [
    "/metadata/annotations",
    "/spec/initContainers",
    "/spec/volumes",
  ]);
  const none = pod({ containers: [{ name: "app", image: "i", command: ["run"] }] }, {
    "secrets-store.deckhouse.io/skip-mutate-containers": "app",
  });
  assertEquals(podPatch(none, mutate(none)), []);
});

Deno.test("mutatePod() never writes into the Pod it was given, whatever it changes", () => {
  const deepFreeze = <T>(v: T): T => {
    if (v && typeof v === "object") Object.values(v).forEach(deepFreeze);
    return Object.freeze(v);
  };
  const exec = { exec: { command: ["cat", "/tmp/ok"] } };
  const p = pod({
    initContainers: [{
      name: "setup",
      image: "i",
      command: ["init"],
      env: [{ name: "T", value: "secrets-store:kv/data/a#b" }],
    }],
    containers: [{
      name: "app",
      image: "i",
      command: ["run"],
      env: [{ name: "LD_LIBRARY_PATH", value: "/opt/lib" }],
      volumeMounts: [{ name: "data", mountPath: "/data" }],
      livenessProbe: exec,
      readinessProbe: exec,
      startupProbe: { httpGet: { path: "/", port: 8080 } },
    }],
    volumes: [{ name: "data", emptyDir: {} }],
  }, {
    "secrets-store.deckhouse.io/mutate-probes": "true",
    "secrets-store.deckhouse.io/tls-secret": "ca",
  });
  const before = structuredClone(p);
  const m = mutate(deepFreeze(p)); // a write into a frozen object throws in a module
  assertEquals(p, before);
  assertEquals(m.spec.containers[0]!.livenessProbe!.exec!.command, [
    ...PROBE_LAUNCH,
    "cat",
    "/tmp/ok",
  ]);
  assertEquals(p.spec.containers[0]!.livenessProbe!.exec!.command, ["cat", "/tmp/ok"]);
});

const BY_IMAGE = { ...INJECTOR, delivery: "imageVolume" as const };

function mutateByImage(p: Pod): Pod {
  return mutatePod(p, {
    options: readPodOptions(p.metadata.annotations ?? {}),
    defaults: DEFAULTS,
    injector: BY_IMAGE,
    images: new Map(),
  });
}

Deno.test("with image volumes the injector is the product image's prepared tree, read-only, and no init container is added", () => {
  const before = pod({
    containers: [{ name: "app", image: "alpine:3.20", command: ["printenv"] }],
    volumes: [{ name: "data", emptyDir: {} }],
  });
  const m = mutateByImage(before);
  assertEquals(m.spec.initContainers, undefined);
  assertEquals(m.spec.volumes, [
    { name: "data", emptyDir: {} },
    {
      name: INJECTOR_VOLUME,
      image: { reference: BY_IMAGE.image, pullPolicy: "IfNotPresent" },
    },
  ]);
  const c = m.spec.containers[0]!;
  assertEquals(c.command, [...LAUNCH, "printenv"]);
  assertEquals(c.volumeMounts, [{
    name: INJECTOR_VOLUME,
    mountPath: "/run/secrets-store",
    readOnly: true,
    subPath: "opt/secrets-store/injector",
  }]);
  // The patch touches the marker, containers and volumes only: no initContainers op at all.
  assertEquals(podPatch(before, m).map((op) => op.path), [
    "/metadata/annotations",
    "/spec/containers",
    "/spec/volumes",
  ]);
  assertEquals(
    m.metadata.annotations?.["secrets-store.deckhouse.io/injected"],
    `${VERSION}; delivery=imageVolume`,
  );
  assert(isMutated(m));
});

Deno.test("with image volumes the Pod's own init containers stay, mutated when they hold a template", () => {
  const m = mutateByImage(pod({
    initContainers: [
      { name: "plain", image: "busybox", command: ["true"] },
      {
        name: "migrate",
        image: "app",
        command: ["migrate"],
        env: [{ name: "DB", value: "secrets-store:demo-kv/data/db#PASS" }],
      },
    ],
    containers: [{ name: "app", image: "alpine:3.20", command: ["printenv"] }],
  }));
  assertEquals(m.spec.initContainers!.map((c) => c.name), ["plain", "migrate"]);
  assertEquals(m.spec.initContainers![1]!.command, [...LAUNCH, "migrate"]);
  assertEquals(m.spec.initContainers![1]!.volumeMounts![0]!.subPath, "opt/secrets-store/injector");
});

Deno.test("mutatePod() denies a Pod that already uses the injector's names, naming the conflict", () => {
  const app = { name: "app", image: "a", command: ["sh"] };
  const tls = { "secrets-store.deckhouse.io/tls-secret": "store-ca" };
  const cases: Array<[Record<string, unknown>, Record<string, string>, string]> = [
    [
      { containers: [app, { name: INIT_CONTAINER, image: "b", command: ["x"] }] },
      {},
      `container name "${INIT_CONTAINER}" is the injector's own`,
    ],
    [
      { containers: [app], volumes: [{ name: "secrets-store-tls", emptyDir: {} }] },
      tls,
      `volume name "secrets-store-tls" is the injector's own`,
    ],
    [
      { containers: [{ ...app, volumeMounts: [{ name: "v", mountPath: "/run/secrets-store" }] }] },
      {},
      `container "app": mount path "/run/secrets-store" is the injector's own`,
    ],
    [
      {
        containers: [{ ...app, volumeMounts: [{ name: "v", mountPath: "//run/secrets-store/" }] }],
      },
      {},
      `container "app": mount path "//run/secrets-store/" is the injector's own`,
    ],
    [
      {
        containers: [{ ...app, volumeMounts: [{ name: "v", mountPath: "/run/secrets-store/x" }] }],
      },
      {},
      `container "app": mount path "/run/secrets-store/x" is inside the injector's "/run/secrets-store"`,
    ],
    [
      {
        containers: [{
          ...app,
          volumeMounts: [{ name: "v", mountPath: "/var/run/secrets-store-tls" }],
        }],
      },
      tls,
      `container "app": mount path "/var/run/secrets-store-tls" is the injector's own`,
    ],
  ];
  for (const [spec, annotations, message] of cases) {
    const e = assertThrows(() => mutate(pod(spec, annotations)), MutationError);
    assertStringIncludes(e.message, message);
  }
  // Without tls-secret the TLS names are free, and a container the webhook skips is not
  // looked at; /run/secrets-store-other is not inside /run/secrets-store.
  const free = mutate(pod({
    containers: [
      { ...app, volumeMounts: [{ name: "v", mountPath: "/run/secrets-store-other" }] },
      {
        name: "side",
        image: "s",
        command: ["y"],
        volumeMounts: [{ name: "v", mountPath: "/run/secrets-store" }],
      },
    ],
    volumes: [{ name: "secrets-store-tls", emptyDir: {} }],
  }, { "secrets-store.deckhouse.io/skip-mutate-containers": "side" }));
  assertEquals(free.spec.containers.length, 2);
});

Deno.test("mutatePod() passes the watch annotations and another token file to the injector", () => {
  const m = mutate(pod({ containers: [{ name: "app", image: "app", command: ["run"] }] }, {
    "secrets-store.deckhouse.io/restart-on-secret-change": "watch-for-data",
    "secrets-store.deckhouse.io/secret-poll-interval": "30s",
    "secrets-store.deckhouse.io/service-account-token-path": "/var/run/secrets/tokens/vault",
  }));
  const e = env(m.spec.containers[0]!);
  assertEquals(e.SECRETS_STORE_RESTART_ON_SECRET_CHANGE, "watch-for-data");
  assertEquals(e.SECRETS_STORE_SECRET_POLL_INTERVAL, "30s");
  assertEquals(e.SECRETS_STORE_TOKEN_FILE, "/var/run/secrets/tokens/vault");
  // Mode none is the default and is not written at all.
  const plain = env(
    mutate(pod({ containers: [{ name: "app", image: "app", command: ["run"] }] }, {
      "secrets-store.deckhouse.io/restart-on-secret-change": "none",
    })).spec.containers[0]!,
  );
  assertEquals(plain.SECRETS_STORE_RESTART_ON_SECRET_CHANGE, undefined);
  assertEquals(plain.SECRETS_STORE_TOKEN_FILE, undefined);
});

Deno.test("env-injector-pull-policy replaces the installation's pull policy for the injector's image", () => {
  const annotations = { "secrets-store.deckhouse.io/env-injector-pull-policy": "Always" };
  const p = pod({ containers: [{ name: "app", image: "app", command: ["run"] }] }, annotations);
  const copied = mutate(p);
  assertEquals(copied.spec.initContainers![0]!.imagePullPolicy, "Always");
  const byImage = mutatePod(p, {
    options: readPodOptions(p.metadata.annotations ?? {}),
    defaults: DEFAULTS,
    injector: { ...INJECTOR, delivery: "imageVolume" },
    images: new Map(),
  });
  const volume = byImage.spec.volumes!.find((v) => v.name === INJECTOR_VOLUME) as {
    image?: { pullPolicy?: string };
  };
  assertEquals(volume.image?.pullPolicy, "Always");
});

Deno.test("mutatePod() removes the tests-only settings a Pod sets itself, and keeps its other variables", () => {
  const m = mutate(pod({
    containers: [{
      name: "app",
      image: "i",
      command: ["run"],
      env: [
        // A floor below secret-poll-interval's 5 s would let a workload hammer the store.
        { name: "SECRETS_STORE_TEST_POLL_MINIMUM", value: "1ms" },
        { name: "SECRETS_STORE_TEST_PROC_ROOT", value: "/tmp/fake-proc" },
        { name: "SECRETS_STORE_TERMINATION_LOG", value: "/tmp/elsewhere" },
        { name: "KEEP", value: "1" },
      ],
    }],
  }, { "secrets-store.deckhouse.io/role": "r" }));
  const e = env(m.spec.containers[0]!);
  assertEquals(e.KEEP, "1");
  for (const name of TEST_ONLY_ENV) assertEquals(e[name], undefined, name);
});

Deno.test("mutatePod() always writes the installation's allowLoginToken, replacing the Pod's own", () => {
  const own = { name: "SECRETS_STORE_ALLOW_LOGIN_TOKEN", value: "true" };
  const template = { name: "T", value: "secrets-store:demo-kv/data/x#K" };
  const c = (name: string, env: unknown[]) => ({ name, image: "i", command: ["run"], env });
  const p = pod({
    containers: [c("app", [own, { name: "KEEP", value: "1" }])],
    initContainers: [c("init", [own, template])],
  });
  const login = (c: { env?: Array<{ name: string; value?: string | undefined }> | undefined }) =>
    (c.env ?? []).filter((e) => e.name === "SECRETS_STORE_ALLOW_LOGIN_TOKEN");
  const off = mutate(p);
  for (const c of [off.spec.containers[0]!, off.spec.initContainers![1]!]) {
    assertEquals(login(c), [{ name: "SECRETS_STORE_ALLOW_LOGIN_TOKEN", value: "false" }], c.name);
  }
  assertEquals(env(off.spec.containers[0]!).KEEP, "1");
  const on = mutatePod(p, {
    options: readPodOptions(p.metadata.annotations ?? {}),
    defaults: DEFAULTS,
    injector: { ...INJECTOR, allowLoginToken: true },
    images: new Map(),
  });
  assertEquals(login(on.spec.containers[0]!), [
    { name: "SECRETS_STORE_ALLOW_LOGIN_TOKEN", value: "true" },
  ]);
});

Deno.test("mutatePod() denies secrets-store:login in a mutated container unless the installation allows it", () => {
  const p = pod({
    containers: [
      {
        name: "app",
        image: "i",
        command: ["run"],
        env: [{ name: "VAULT_TOKEN", value: "secrets-store:login" }],
      },
    ],
  });
  const e = assertThrows(() => mutate(p), MutationError);
  assertEquals(
    e.message,
    'container "app": variable VAULT_TOKEN is secrets-store:login, which would give the app the injector\'s store token, and this installation does not allow it (injector.allowLoginToken)',
  );
  // A container the Pod leaves unmutated keeps the text as it is: nothing is handed out.
  const skipped = pod(p.spec, { "secrets-store.deckhouse.io/skip-mutate-containers": "app" });
  assertEquals(mutate(skipped).spec.containers[0]!.command, ["run"]);
  const allowed = mutatePod(p, {
    options: readPodOptions(p.metadata.annotations ?? {}),
    defaults: DEFAULTS,
    injector: { ...INJECTOR, allowLoginToken: true },
    images: new Map(),
  });
  assertEquals(env(allowed.spec.containers[0]!).VAULT_TOKEN, "secrets-store:login");
});

Deno.test("an init container whose only template is a write reference is mutated", () => {
  const m = mutate(pod({
    containers: [{ name: "app", image: "i", command: ["run"] }],
    initContainers: [{
      name: "init",
      image: "i",
      command: ["prepare"],
      env: [{
        name: "CERT",
        value: '>>secrets-store:pki/issue/app#certificate#{"common_name":"a"}',
      }],
    }],
  }));
  assertEquals(m.spec.initContainers![1]!.command, [...LAUNCH, "prepare"]);
});
