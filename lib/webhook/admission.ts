/** AdmissionReview v1 in, AdmissionReview v1 out: a plain function from the request body to
 * the answer, so it is tested without a socket. Every answer carries the request's uid; nothing here
 * crashes the server, whatever the body. */
import { z } from "zod";
import type { StoreDefaults } from "../config/connection.ts";
import { describeIssues } from "../config/issues.ts";
import type { Logger } from "../log/logger.ts";
import { base64Utf8 } from "../sys/base64.ts";
import { KubeNameError } from "../kube/api_path.ts";
import { type Pod, PodSchema } from "../kube/pod.ts";
import {
  AnnotationError,
  type PodOptions,
  PREFIX,
  readPodOptions,
  wantsInjection,
} from "./annotations.ts";
import type { EventSink } from "../kube/events.ts";
import { seeDocs } from "../troubleshooting.ts";
import { admissionEvents, eventSubject, podLabel } from "./admission_events.ts";
import { type Hint, templatesWithoutRole, unknownAnnotations } from "./hints.ts";
import type { WebhookMetrics } from "./metrics.ts";
import {
  type ImageCommand,
  imagesNeeded,
  type InjectorDelivery,
  isMutated,
  mutatePod,
  MutationError,
} from "./mutate.ts";
import type { Answer } from "./http1.ts";
import { podPatch } from "./patch.ts";
import { checkPodNames, NamespaceMismatchError } from "./pod_names.ts";

/** Kubernetes objects stay below 1.5 MiB; a review holds at most two of them. The server
 * refuses larger bodies with 413 before reading them. */
export const MAX_BODY = 4 * 1024 * 1024;

const Review = z.object({
  apiVersion: z.literal("admission.k8s.io/v1"),
  kind: z.literal("AdmissionReview"),
  request: z.object({
    uid: z.string().min(1),
    kind: z.object({ group: z.string(), version: z.string(), kind: z.string() }),
    operation: z.string(),
    namespace: z.string().optional(),
    object: z.unknown(),
  }),
});

/** Finds ENTRYPOINT/CMD for the images of containers without a command, at once when all
 * are cached; fails with an ImageResolveError whose message says which container and image,
 * why, and what to do. `namespace` and the Pod's ServiceAccount and pull secret names were
 * checked by checkPodNames(). */
export type ImageResolver = (
  pod: Pod,
  namespace: string,
  wanted: Array<{ container: string; image: string }>,
) => Map<string, ImageCommand> | Promise<Map<string, ImageCommand>>;

export interface AdmissionDeps {
  /** Read at each admission: Stronghold's CA may come after start (stronghold_ca.ts). */
  defaults: () => StoreDefaults;
  injector: InjectorDelivery;
  resolveImages: ImageResolver;
  logger: Logger;
  metrics: WebhookMetrics;
  /** Where denials and hints go as Events; none when unset. */
  events?: EventSink;
}

interface Decision {
  allowed: boolean;
  patch?: unknown[];
  message?: string;
  code?: number;
  warnings?: string[];
  /** Why, in a few words, for the log line (a denial's is its message). */
  reason?: string;
  /** Signs the Pod wanted something it does not get (hints.ts): warnings and events. */
  hints?: Hint[];
}

/** Handles the body of POST /mutate. Synchronous unless an image must be fetched, so an
 * admission runs start to end without interleaving with the others in flight and without
 * promise hops (its cost per admission is in docs/benchmarks.md). */
export function handleAdmission(text: string, deps: AdmissionDeps): Answer | Promise<Answer> {
  const started = performance.now();
  let body: unknown;
  try {
    if (text.length === 0) throw new TypeError("empty body");
    body = JSON.parse(text);
  } catch (e) {
    deps.metrics.admission("error", seconds(started));
    return plain(400, `Cannot read AdmissionReview: ${(e as Error).message}`);
  }
  const review = Review.safeParse(body);
  if (!review.success) {
    deps.metrics.admission("error", seconds(started));
    return plain(400, `Invalid AdmissionReview: ${describeIssues(review.error.issues)}`);
  }
  const r = review.data.request;
  // A bug must not take the server down; the Pod is denied (failurePolicy: Fail semantics).
  const failed = (e: unknown): Decision => {
    deps.logger.error("admission failed", { uid: r.uid, error: (e as Error).message });
    return {
      allowed: false,
      code: 500,
      message: `secrets-store webhook error: ${(e as Error).message}`,
      reason: "internal error",
    };
  };
  let decision: Decision | Promise<Decision>;
  try {
    decision = decide(r, deps);
  } catch (e) {
    decision = failed(e);
  }
  return decision instanceof Promise
    ? decision.catch(failed).then((d) => answerOrDeny(r, d, started, deps))
    : answerOrDeny(r, decision, started, deps);
}

/** answer(), or a denial when the decision cannot be written: JSON.stringify throws on a Pod
 * whose fields nest deeply enough (a patch carries the mutated containers whole). Denied,
 * not a 500, so the API server shows the user why. */
function answerOrDeny(
  r: z.infer<typeof Review>["request"],
  decision: Decision,
  started: number,
  deps: AdmissionDeps,
): Answer {
  try {
    return answer(r, decision, started, deps);
  } catch (e) {
    deps.logger.warn("admission answer not written", { uid: r.uid, error: (e as Error).message });
    return answer(
      r,
      deny(
        `secrets-store: cannot write the answer for this Pod (${
          (e as Error).message
        }): is a field nested too deeply?`,
      ),
      started,
      deps,
    );
  }
}

/** The AdmissionReview answering `r`, counted and logged. */
function answer(
  r: z.infer<typeof Review>["request"],
  decision: Decision,
  started: number,
  deps: AdmissionDeps,
): Answer {
  const outcome = !decision.allowed
    ? (decision.code === 500 ? "error" : "denied")
    : decision.patch
    ? "mutated"
    : "skipped";
  const ms = performance.now() - started;
  deps.metrics.admission(outcome, ms / 1000);
  const pod = r.kind.kind === "Pod" ? podLabel(r.object) : undefined;
  deps.logger.info("admission", {
    uid: r.uid,
    pod: pod === undefined ? undefined : `${r.namespace ?? ""}/${pod}`,
    outcome,
    reason: (decision.reason ?? decision.message ?? "").slice(0, 500) || undefined,
    ms: Math.round(ms),
  });
  // A bug's 500 is the operator's (the log has it), not an event for the Pod's owner.
  if (deps.events && outcome !== "error" && (outcome === "denied" || decision.hints?.length)) {
    const subject = eventSubject(r.namespace, r.object);
    if (subject) {
      const denial = outcome === "denied" ? decision.message : undefined;
      for (const e of admissionEvents(subject, pod ?? "", denial, decision.hints ?? [])) {
        deps.events.emit(e);
      }
    }
  }
  return json({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    response: {
      uid: r.uid,
      allowed: decision.allowed,
      ...(decision.patch
        ? { patchType: "JSONPatch", patch: base64Utf8(JSON.stringify(decision.patch)) }
        : {}),
      ...(decision.message
        ? { status: { code: decision.code ?? 400, message: decision.message } }
        : {}),
      ...(decision.warnings?.length ? { warnings: decision.warnings } : {}),
    },
  });
}

function decide(
  r: z.infer<typeof Review>["request"],
  deps: AdmissionDeps,
): Decision | Promise<Decision> {
  if (r.kind.kind !== "Pod" || r.kind.group !== "" || r.operation !== "CREATE") {
    return { allowed: true, reason: "not a Pod CREATE" };
  }
  const annotations = (r.object as { metadata?: { annotations?: Record<string, string> } })
    ?.metadata?.annotations;
  const unknown = unknownAnnotations(annotations);
  if (!wantsInjection(annotations)) {
    const hints = [...unknown, ...templatesWithoutRole((r.object as { spec?: unknown })?.spec)];
    if (hints.length === 0) return { allowed: true, reason: "no role annotation" };
    return {
      allowed: true,
      reason: `not mutated: ${hints.map((h) => h.reason).join(", ")}`,
      warnings: hints.map(warning),
      hints,
    };
  }
  const parsed = PodSchema.safeParse(r.object);
  if (!parsed.success) return deny(`Cannot read the Pod: ${describeIssues(parsed.error.issues)}`);
  const pod = parsed.data;
  if (isMutated(pod)) return { allowed: true, reason: "already mutated" };
  if (optedOut(pod)) {
    return {
      allowed: true,
      reason: `opted out (${MODULE_OPT_OUT.label}: ${MODULE_OPT_OUT.value})`,
    };
  }
  try {
    // Before any API call: every name that goes into a path, and the namespace from the API
    // server rather than from the Pod.
    const namespace = checkPodNames(r.namespace, pod);
    const defaults = deps.defaults();
    const options = readPodOptions(pod.metadata.annotations ?? {}, {
      allowInsecureHttp: defaults.allowInsecureHttp,
      skipContainers: deps.injector.skipContainers,
      revokeToken: deps.injector.revokeToken,
    });
    // Only a Pod that would log in with the installation's CA needs it.
    if (defaults.caMissing && !options.tlsSecret && !options.tlsSkipVerify) {
      return deny(`secrets-store: ${defaults.caMissing}${seeDocs("webhook-denied")}`);
    }
    const wanted = imagesNeeded(pod, options);
    const images = wanted.length ? deps.resolveImages(pod, namespace, wanted) : new Map();
    const input = { pod, options, defaults, hints: unknown };
    if (!(images instanceof Promise)) return mutation(input, images, deps);
    return images.then((found) => mutation(input, found, deps)).catch(refusal);
  } catch (e) {
    return refusal(e);
  }
}

/** The module's opt-out label on a Pod, honoured for users who migrate with it in place. The
 * product's own (`secrets-store.deckhouse.io/inject: disabled` by default) keeps the Pod from
 * being sent here at all: it is the chart's objectSelector (webhook.optOutLabel). */
export const MODULE_OPT_OUT = { label: "stronghold.deckhouse.io/mutate", value: "skip" } as const;

function optedOut(pod: Pod): boolean {
  const labels = (pod.metadata as { labels?: unknown }).labels;
  return typeof labels === "object" && labels !== null &&
    (labels as Record<string, unknown>)[MODULE_OPT_OUT.label] === MODULE_OPT_OUT.value;
}

function mutation(
  { pod, options, defaults, hints }: {
    pod: Pod;
    options: PodOptions;
    defaults: StoreDefaults;
    hints: Hint[];
  },
  images: Map<string, ImageCommand>,
  deps: AdmissionDeps,
): Decision {
  const mutated = mutatePod(pod, {
    options,
    defaults,
    injector: deps.injector,
    images,
  });
  const patch = podPatch(pod, mutated);
  const warnings = options.tlsSkipVerify
    ? [`${PREFIX}tls-skip-verify is true: the store's TLS certificate is not verified`]
    : [];
  // Only reachable with connection.allowInsecureHttp: true; the user is told at every Pod.
  const address = options.addr ?? defaults.address;
  if (address.startsWith("http:")) {
    warnings.push(
      `the store address ${address} is plain http: the token and secrets travel in clear`,
    );
  }
  warnings.push(...hints.map(warning));
  const noted = hints.length ? { hints } : {};
  return patch.length
    ? { allowed: true, patch, warnings, reason: "mutated", ...noted }
    : { allowed: true, warnings, reason: "no container to mutate", ...noted };
}

/** A hint as kubectl prints it ("Warning: secrets-store: ..."). */
function warning(h: Hint): string {
  return `secrets-store: ${h.message}`;
}

/** A user's mistake denies the Pod with its message; anything else is a bug and goes on up. */
function refusal(e: unknown): Decision {
  if (
    e instanceof AnnotationError || e instanceof MutationError ||
    e instanceof ImageResolveError || e instanceof KubeNameError ||
    e instanceof NamespaceMismatchError
  ) {
    return deny(`secrets-store: ${e.message}${seeDocs("webhook-denied")}`);
  }
  throw e;
}

/** An image's entrypoint could not be found; the message is shown to the user as is. */
export class ImageResolveError extends Error {
  override name = "ImageResolveError";
}

function deny(message: string): Decision {
  return { allowed: false, code: 400, message };
}

function plain(status: number, text: string): Answer {
  return { status, contentType: "text/plain", body: text + "\n" };
}

function json(value: unknown): Answer {
  return { status: 200, contentType: "application/json", body: JSON.stringify(value) };
}

function seconds(started: number): number {
  return (performance.now() - started) / 1000;
}
