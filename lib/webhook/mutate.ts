/** The mutation itself: a pure function of the Pod, its options, the installation's settings
 * and the image configs already looked up. No I/O, so every case is a table test. */
import {
  IMAGE_EXECUTABLE,
  IMAGE_INJECTOR_TREE,
  INJECTOR_DIR,
  injectorCommand,
  injectorProbeCommand,
  LIB_DIR,
} from "../copy/layout.ts";
import type { StoreDefaults } from "../config/connection.ts";
import { SETTINGS_ENV, TEST_ONLY_ENV } from "../config/injector_env.ts";
import { isEnvTemplate, LOGIN_VALUE } from "../template/template.ts";
import { type Container, type Pod, PROBE_FIELDS, type Volume } from "../kube/pod.ts";
import { VERSION } from "../version.ts";
import { INJECTED, type PodOptions, PREFIX } from "./annotations.ts";

export const INIT_CONTAINER = "secrets-store-copy-self";
export const INJECTOR_VOLUME = "secrets-store-injector";
export const TLS_VOLUME = "secrets-store-tls";
export const TLS_DIR = "/var/run/secrets-store-tls";

/** ENTRYPOINT and CMD of an image, as the registry's image config gives them. */
export interface ImageCommand {
  entrypoint: string[];
  cmd: string[];
}

/** The product image, and how the injector gets from it into a Pod (settings.ts). */
export interface InjectorDelivery {
  image: string;
  imagePullPolicy: string;
  /** Default `copy`. */
  delivery?: "imageVolume" | "copy";
  /** injector.skipContainers; read by readPodOptions(), which the annotation overrides. */
  skipContainers?: readonly string[] | undefined;
  /** injector.allowLoginToken: `secrets-store:login` may hand the app the injector's store
   * token. Off by default. */
  allowLoginToken?: boolean | undefined;
  /** injector.revokeToken; read by readPodOptions(), which the annotation overrides. */
  revokeToken?: boolean | undefined;
}

export interface MutationInput {
  options: PodOptions;
  defaults: StoreDefaults;
  injector: InjectorDelivery;
  /** Image reference → its config, for every container that has no command. */
  images: Map<string, ImageCommand>;
}

/** The Pod cannot be mutated as asked; it is denied with this message. */
export class MutationError extends Error {
  override name = "MutationError";
}

/** True when the webhook already mutated this Pod (a retried admission, a re-applied spec). */
export function isMutated(pod: Pod): boolean {
  return (pod.spec.initContainers ?? []).some((c) => c.name === INIT_CONTAINER) ||
    (pod.spec.volumes ?? []).some((v) => v.name === INJECTOR_VOLUME);
}

/** App containers, minus skip-mutate-containers; init containers only when their own env
 * holds a template (their envFrom cannot be seen at admission, see docs/webhook.md). */
export function containersToMutate(
  pod: Pod,
  options: PodOptions,
): { init: Container[]; app: Container[] } {
  const skip = new Set(options.skipMutateContainers);
  const hasTemplate = (c: Container) =>
    (c.env ?? []).some((e) => e.value !== undefined && isEnvTemplate(e.value));
  return {
    init: (pod.spec.initContainers ?? []).filter((c) => !skip.has(c.name) && hasTemplate(c)),
    app: pod.spec.containers.filter((c) => !skip.has(c.name)),
  };
}

/** Images whose config the mutation needs: those of mutated containers without a command. */
export function imagesNeeded(
  pod: Pod,
  options: PodOptions,
): Array<{ container: string; image: string }> {
  const { init, app } = containersToMutate(pod, options);
  return [...init, ...app]
    .filter((c) => !c.command?.length)
    .map((c) => {
      if (!c.image) throw new MutationError(`container "${c.name}" has neither command nor image`);
      return { container: c.name, image: c.image };
    });
}

/** Returns the mutated Pod; the input is never changed. Only what changes is copied (the
 * spec's lists, the mutated containers and their probes): a deep copy of every Pod was a
 * third of an admission's CPU time. */
export function mutatePod(pod: Pod, input: MutationInput): Pod {
  const out = { ...pod, spec: { ...pod.spec } };
  const { init, app } = containersToMutate(pod, input.options);
  if (init.length + app.length === 0) return out;
  checkCollisions(pod, init, app, input.options);
  if (!input.injector.allowLoginToken) checkNoLoginToken([...init, ...app]);
  const chosen = new Set([...init, ...app].map((c) => c.name));
  const env = injectorEnv(input);
  const mutate = (c: Container): Container =>
    chosen.has(c.name) ? mutateContainer(c, input, env) : c;

  out.spec.containers = out.spec.containers.map(mutate);
  const byImage = input.injector.delivery === "imageVolume";
  const inits = (out.spec.initContainers ?? []).map(mutate);
  // With an image volume nothing is copied: the kubelet mounts the image's prepared tree.
  out.spec.initContainers = byImage ? inits : [copySelfContainer(input), ...inits];
  if (out.spec.initContainers.length === 0 && !pod.spec.initContainers) {
    delete out.spec.initContainers; // the Pod had none: the patch then leaves the field alone
  }
  const volumes: Volume[] = [
    byImage
      ? {
        name: INJECTOR_VOLUME,
        image: { reference: input.injector.image, pullPolicy: pullPolicy(input) },
      }
      : { name: INJECTOR_VOLUME, emptyDir: { sizeLimit: "256Mi" } },
  ];
  if (input.options.tlsSecret) {
    volumes.push({
      name: TLS_VOLUME,
      secret: { secretName: input.options.tlsSecret, items: [{ key: "ca.crt", path: "ca.crt" }] },
    });
  }
  out.spec.volumes = [...(out.spec.volumes ?? []), ...volumes];
  out.metadata = {
    ...pod.metadata,
    annotations: {
      ...pod.metadata.annotations,
      [PREFIX + INJECTED]: injectedMarker(input.injector),
    },
  };
  return out;
}

/** The value of the `injected` annotation: what a user checks to see which injector a Pod
 * got, and how it reached the Pod. */
export function injectedMarker(injector: InjectorDelivery): string {
  return `${VERSION}; delivery=${injector.delivery ?? "copy"}`;
}

/** A Pod that already uses a name the mutation adds would come out invalid (two containers
 * or volumes of one name, two mounts at one path) or would shadow the injector: it is denied
 * naming the conflict. The webhook's own init container or volume mean an earlier mutation
 * (isMutated), so they never reach here. */
function checkCollisions(pod: Pod, init: Container[], app: Container[], options: PodOptions) {
  for (const c of [...pod.spec.containers, ...(pod.spec.initContainers ?? [])]) {
    if (c.name === INIT_CONTAINER) {
      throw new MutationError(`container name "${c.name}" is the injector's own; rename it`);
    }
  }
  if (options.tlsSecret) {
    for (const v of pod.spec.volumes ?? []) {
      if (v.name === TLS_VOLUME) {
        throw new MutationError(
          `volume name "${v.name}" is the injector's own (tls-secret adds it); rename it`,
        );
      }
    }
  }
  const dirs = options.tlsSecret ? [INJECTOR_DIR, TLS_DIR] : [INJECTOR_DIR];
  for (const c of [...init, ...app]) {
    for (const m of c.volumeMounts ?? []) {
      // The kubelet cleans the path; so is it compared here.
      const path = m.mountPath.replace(/\/\.(?=\/|$)/g, "").replace(/\/+/g, "/").replace(
        /(.)\/$/,
        "$1",
      );
      for (const dir of dirs) {
        if (path === dir) {
          throw new MutationError(
            `container "${c.name}": mount path "${m.mountPath}" is the injector's own; mount it elsewhere`,
          );
        }
        if (path.startsWith(dir + "/")) {
          throw new MutationError(
            `container "${c.name}": mount path "${m.mountPath}" is inside the injector's "${dir}"; mount it elsewhere`,
          );
        }
      }
    }
  }
}

/** A Pod whose own env asks for the store token while the installation does not allow it is
 * denied at admission, as a spec that cannot work is: the user reads why at `kubectl apply`
 * (or in the ReplicaSet's FailedCreate event) rather than in a container that never starts.
 * The injector refuses it too, which is what holds for values the webhook cannot see
 * (`envFrom`, `valueFrom`). */
function checkNoLoginToken(containers: Container[]) {
  for (const c of containers) {
    const e = (c.env ?? []).find((e) => e.value === LOGIN_VALUE);
    if (e) {
      throw new MutationError(
        `container "${c.name}": variable ${e.name} is ${LOGIN_VALUE}, which would give the app the injector's store token, and this installation does not allow it (injector.allowLoginToken)`,
      );
    }
  }
}

function mutateContainer(
  c: Container,
  input: MutationInput,
  env: Array<{ name: string; value: string }>,
): Container {
  const out = { ...c };
  const launcher = injectorCommand();
  if (c.command?.length) {
    out.command = [...launcher, ...c.command];
  } else {
    const img = input.images.get(c.image ?? "");
    if (!img) {
      throw new MutationError(
        `container "${c.name}": the entrypoint of image "${c.image}" is not known`,
      );
    }
    // Kubernetes semantics: without command the image ENTRYPOINT runs, with the container's
    // args if it has any, else the image CMD.
    const args = c.args?.length ? c.args : img.cmd;
    if (img.entrypoint.length === 0 && args.length === 0) {
      throw new MutationError(
        `container "${c.name}": image "${c.image}" has neither ENTRYPOINT nor CMD, so there is nothing to start; set "command" in the container`,
      );
    }
    out.command = [...launcher, ...img.entrypoint];
    out.args = args;
  }
  // The injector starts on its own glibc (layout.ts); the app's LD_LIBRARY_PATH is kept aside
  // and restored by the injector before exec.
  const appLibPath = (c.env ?? []).find((e) => e.name === "LD_LIBRARY_PATH")?.value ?? "";
  const all = [
    ...env,
    { name: SETTINGS_ENV.appLdLibraryPath, value: appLibPath },
    { name: "LD_LIBRARY_PATH", value: `${INJECTOR_DIR}/${LIB_DIR}` },
  ];
  const own = new Set([...all.map((e) => e.name), ...TEST_ONLY_ENV]);
  out.env = [...(c.env ?? []).filter((e) => !own.has(e.name)), ...all];
  out.volumeMounts = [...(c.volumeMounts ?? []), {
    name: INJECTOR_VOLUME,
    mountPath: INJECTOR_DIR,
    readOnly: true,
    ...(input.injector.delivery === "imageVolume" ? { subPath: IMAGE_INJECTOR_TREE } : {}),
  }];
  if (input.options.tlsSecret) {
    out.volumeMounts.push({ name: TLS_VOLUME, mountPath: TLS_DIR, readOnly: true });
  }
  if (input.options.mutateProbes) {
    for (const field of PROBE_FIELDS) {
      const probe = out[field];
      // Only exec probes run a command in the container; httpGet, tcpSocket and grpc stay.
      if (probe?.exec?.command?.length) {
        out[field] = {
          ...probe,
          exec: { ...probe.exec, command: [...injectorProbeCommand(), ...probe.exec.command] },
        };
      }
    }
  }
  return out;
}

/** The injector's settings as container variables; the injector removes them before exec. */
function injectorEnv(
  { options: o, defaults: d, injector }: MutationInput,
): Array<{ name: string; value: string }> {
  const vars: Array<[string, string | undefined]> = [
    [SETTINGS_ENV.address, o.addr ?? d.address],
    [SETTINGS_ENV.role, o.role],
    [SETTINGS_ENV.authPath, o.authPath ?? d.authPath],
    [SETTINGS_ENV.namespace, o.namespace ?? d.namespace],
    [SETTINGS_ENV.caCert, o.tlsSecret ? undefined : d.caCert],
    [SETTINGS_ENV.caFile, o.tlsSecret ? `${TLS_DIR}/ca.crt` : undefined],
    [SETTINGS_ENV.skipVerify, o.tlsSkipVerify ? "true" : undefined],
    [SETTINGS_ENV.ignoreMissing, o.ignoreMissingSecrets ? "true" : undefined],
    // Always written, so a variable of the Pod's own cannot quietly override the
    // installation's choice (container env wins over envFrom): the annotation is the way.
    [SETTINGS_ENV.revokeToken, String(o.revokeToken)],
    [SETTINGS_ENV.clientTimeout, o.clientTimeout],
    [SETTINGS_ENV.logLevel, o.logLevel],
    [SETTINGS_ENV.jsonLog, o.enableJsonLog ? "true" : undefined],
    [SETTINGS_ENV.envFromPath, o.envFromPath],
    [SETTINGS_ENV.tokenFile, o.serviceAccountTokenPath],
    [
      SETTINGS_ENV.restartOnSecretChange,
      o.restartOnSecretChange === "none" ? undefined : o.restartOnSecretChange,
    ],
    [SETTINGS_ENV.pollInterval, o.secretPollInterval],
    // The injector checks its address against the same switch the webhook used.
    [SETTINGS_ENV.allowInsecureHttp, d.allowInsecureHttp ? "true" : undefined],
    // Always written, "false" too: it replaces whatever the Pod set, so only the installation
    // decides (an `envFrom` source cannot override an `env` entry).
    [SETTINGS_ENV.allowLoginToken, injector.allowLoginToken ? "true" : "false"],
  ];
  return vars.filter((v): v is [string, string] => v[1] !== undefined && v[1] !== "")
    .map(([name, value]) => ({ name, value }));
}

/** env-injector-pull-policy, else the installation's. */
function pullPolicy(input: MutationInput): string {
  return input.options.envInjectorPullPolicy ?? input.injector.imagePullPolicy;
}

/** The init container: copies the executable into the shared volume. Restricted security
 * context; no CPU limit, because a CPU-limited copy was throttled to minutes on busy nodes
 * in a peer product. */
function copySelfContainer(input: MutationInput): Container {
  return {
    name: INIT_CONTAINER,
    image: input.injector.image,
    imagePullPolicy: pullPolicy(input),
    command: [IMAGE_EXECUTABLE, "copy-self", INJECTOR_DIR],
    volumeMounts: [{ name: INJECTOR_VOLUME, mountPath: INJECTOR_DIR }],
    resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "128Mi" } },
    securityContext: {
      runAsNonRoot: true,
      runAsUser: 65532,
      runAsGroup: 65532,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
      seccompProfile: { type: "RuntimeDefault" },
    },
  };
}
