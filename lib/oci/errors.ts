/** Why an image's entrypoint could not be learnt, as the webhook needs to report it. */
export type ImageLookupReason =
  | "invalid_reference" // the image name does not parse
  | "unauthorized" // 401/403 anonymously and with every credential
  | "not_found" // no such repository, tag, manifest or blob
  | "no_platform" // an index without an entry for the wanted platform
  | "not_an_image" // a manifest of another kind (schema 1, a Helm chart, an attestation)
  | "tls" // the registry's certificate could not be verified
  | "timeout" // the lookup did not finish in time
  | "aborted" // the caller gave up
  | "unreachable" // connection refused, DNS, reset
  | "registry_error" // any other HTTP status, e.g. 429 or 5xx
  | "bad_response"; // an answer that breaks the distribution API or its digest

/** Every failure of an image lookup. The message names the image and why; never a credential. */
export class ImageLookupError extends Error {
  override name = "ImageLookupError";
  /** HTTP status of the answer that failed, when there was one. */
  readonly status?: number | undefined;

  constructor(
    /** The image as the Pod names it. */
    readonly image: string,
    readonly reason: ImageLookupReason,
    detail: string,
    options?: { status?: number | undefined; cause?: unknown },
  ) {
    super(`Cannot look up image "${image}": ${reason.replaceAll("_", " ")}: ${detail}`, {
      cause: options?.cause,
    });
    this.status = options?.status;
  }
}
