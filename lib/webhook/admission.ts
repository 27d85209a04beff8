/** AdmissionReview v1 in, AdmissionReview v1 out: a plain Request -> Response function, so
 * it is tested without a socket. Every answer carries the request's uid; nothing here
 * crashes the server, whatever the body. */
import { z } from "zod";
import type { StoreDefaults } from "../config/connection.ts";
import { describeIssues } from "../config/connection.ts";
import type { Logger } from "../log/logger.ts";
import { type Pod, PodSchema } from "../kube/pod.ts";
import { AnnotationError, PREFIX, readPodOptions, wantsInjection } from "./annotations.ts";
import type { WebhookMetrics } from "./metrics.ts";
import { type ImageCommand, imagesNeeded, isMutated, mutatePod, MutationError } from "./mutate.ts";
import { podPatch } from "./patch.ts";

/** Kubernetes objects stay below 1.5 MiB; a review holds at most two of them. */
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

/** Finds ENTRYPOINT/CMD for the images of containers without a command; throws an Error
 * whose message says which container and image, why, and what to do. */
export type ImageResolver = (
  pod: Pod,
  namespace: string,
  wanted: Array<{ container: string; image: string }>,
) => Promise<Map<string, ImageCommand>>;

export interface AdmissionDeps {
  defaults: StoreDefaults;
  injector: { image: string; imagePullPolicy: string };
  resolveImages: ImageResolver;
  logger: Logger;
  metrics: WebhookMetrics;
}

interface Answer {
  allowed: boolean;
  patch?: unknown[];
  message?: string;
  code?: number;
  warnings?: string[];
}

/** Handles POST /mutate. */
export async function handleAdmission(req: Request, deps: AdmissionDeps): Promise<Response> {
  const started = performance.now();
  const length = Number(req.headers.get("content-length") ?? 0);
  if (length > MAX_BODY) return plain(413, `AdmissionReview larger than ${MAX_BODY} bytes`);
  let body: unknown;
  try {
    const text = await readLimited(req, MAX_BODY);
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
  let answer: Answer;
  try {
    answer = await decide(r, deps);
  } catch (e) {
    // A bug must not take the server down; the Pod is denied (failurePolicy: Fail semantics).
    deps.logger.error("admission failed", { uid: r.uid, error: (e as Error).message });
    answer = {
      allowed: false,
      code: 500,
      message: `secrets-store webhook error: ${(e as Error).message}`,
    };
  }
  const outcome = !answer.allowed
    ? (answer.code === 500 ? "error" : "denied")
    : answer.patch
    ? "mutated"
    : "skipped";
  deps.metrics.admission(outcome, seconds(started));
  deps.logger.info("admission", {
    uid: r.uid,
    namespace: r.namespace,
    outcome,
    ms: Math.round(performance.now() - started),
  });
  return Response.json({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    response: {
      uid: r.uid,
      allowed: answer.allowed,
      ...(answer.patch
        ? { patchType: "JSONPatch", patch: btoa(JSON.stringify(answer.patch)) }
        : {}),
      ...(answer.message ? { status: { code: answer.code ?? 400, message: answer.message } } : {}),
      ...(answer.warnings?.length ? { warnings: answer.warnings } : {}),
    },
  });
}

async function decide(r: z.infer<typeof Review>["request"], deps: AdmissionDeps): Promise<Answer> {
  if (r.kind.kind !== "Pod" || r.kind.group !== "" || r.operation !== "CREATE") {
    return { allowed: true };
  }
  const annotations = (r.object as { metadata?: { annotations?: Record<string, string> } })
    ?.metadata?.annotations;
  if (!wantsInjection(annotations)) return { allowed: true };
  const parsed = PodSchema.safeParse(r.object);
  if (!parsed.success) return deny(`Cannot read the Pod: ${describeIssues(parsed.error.issues)}`);
  const pod = parsed.data;
  if (isMutated(pod)) return { allowed: true };
  try {
    const options = readPodOptions(pod.metadata.annotations ?? {});
    const wanted = imagesNeeded(pod, options);
    const images = wanted.length
      ? await deps.resolveImages(pod, r.namespace ?? "", wanted)
      : new Map();
    const mutated = mutatePod(pod, {
      options,
      defaults: deps.defaults,
      injector: deps.injector,
      images,
    });
    const patch = podPatch(pod, mutated);
    const warnings = options.tlsSkipVerify
      ? [`${PREFIX}tls-skip-verify is true: the store's TLS certificate is not verified`]
      : [];
    return patch.length ? { allowed: true, patch, warnings } : { allowed: true, warnings };
  } catch (e) {
    if (
      e instanceof AnnotationError || e instanceof MutationError || e instanceof ImageResolveError
    ) {
      return deny(`secrets-store: ${e.message}`);
    }
    throw e;
  }
}

/** An image's entrypoint could not be found; the message is shown to the user as is. */
export class ImageResolveError extends Error {
  override name = "ImageResolveError";
}

function deny(message: string): Answer {
  return { allowed: false, code: 400, message };
}

function plain(status: number, text: string): Response {
  return new Response(text + "\n", { status, headers: { "content-type": "text/plain" } });
}

function seconds(started: number): number {
  return (performance.now() - started) / 1000;
}

/** Reads a body, refusing to buffer more than `max` bytes even without a content-length. */
async function readLimited(req: Request, max: number): Promise<string> {
  if (!req.body) throw new TypeError("empty body");
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of req.body) {
    size += chunk.length;
    if (size > max) throw new RangeError(`body larger than ${max} bytes`);
    chunks.push(chunk);
  }
  const all = new Uint8Array(size);
  let off = 0;
  for (const c of chunks) (all.set(c, off), off += c.length);
  return new TextDecoder().decode(all);
}
