/** What the admission webhook asks of a registry: an image's ENTRYPOINT and CMD for the
 * configured platform, cached so that a rollout of many Pods costs one lookup, and so that a
 * re-pushed tag is seen again after a short TTL. */
import { createHash } from "node:crypto";
import { RefreshingCache } from "../sys/refreshing_cache.ts";
import type { RegistryCredential } from "./credentials.ts";
import { ImageLookupError } from "./errors.ts";
import {
  digestMatches,
  formatPlatform,
  parseImageConfig,
  parseManifest,
  parsePlatform,
  type Platform,
  selectManifest,
  sha256Digest,
} from "./manifest.ts";
import { formatReference, type ImageReference, parseReference } from "./reference.ts";
import { MAX_CONFIG_BYTES, RegistrySession } from "./registry.ts";

export type { RegistryCredential } from "./credentials.ts";
export { ImageLookupError, type ImageLookupReason } from "./errors.ts";

/** What a Pod's container runs when it sets no `command`. */
export interface ImageConfig {
  entrypoint: string[];
  cmd: string[];
  /** Digest of the platform's image manifest (not of the index). */
  digest: string;
}

export interface ImageLookupOptions {
  /** PEM certificates trusted in addition to the system roots (private registries). */
  caCerts?: string[] | undefined;
  /** Platform whose entry of a multi-arch index is used; default "linux/amd64". */
  platform?: string;
  /** How long a tag is trusted to point at the same manifest; default 5 minutes. For as long
   * again the cached answer still serves while the tag is looked up anew. */
  cacheTtlMs?: number;
  /** Bound on one whole lookup, all requests included; default 2000 ms. */
  timeoutMs?: number;
  /** Hosts (with port, as in the image name) allowed over plain http; default none. */
  plainHttpRegistries?: string[];
  /** Entries kept in each cache (tags, digest references, configs by digest); default 1000. */
  cacheSize?: number;
  /** Bytes of entrypoints and cmds kept in each cache; default 64 MiB. */
  cacheBytes?: number;
  /** The caches' clock, in milliseconds that never go back; tests drive their own. */
  now?: () => number;
}

/** Looks up image configs; one instance per process, as it holds the caches and a
 * connection pool. */
export class ImageLookup {
  readonly platform: Platform;
  readonly #client: Deno.HttpClient;
  readonly #timeoutMs: number;
  readonly #plainHttp: ReadonlySet<string>;
  /** "<reference>|<platform>|<credentials fingerprint>" -> the config, for references by tag:
   * a tag can be pushed again, so it is looked up anew after cacheTtl. */
  readonly #tags: RefreshingCache<ImageConfig>;
  /** The same for references by digest, which can never point elsewhere. */
  readonly #pinned: RefreshingCache<ImageConfig>;
  /** Digest of a platform manifest -> its config. Content-addressed, so it never goes stale,
   * and it may be shared by all repositories that hold the same image. */
  readonly #configs: RefreshingCache<ImageConfig>;
  readonly #names = new WeakMap<RegistryCredential[], Map<string, Named>>();

  constructor(o: ImageLookupOptions = {}) {
    this.platform = parsePlatform(o.platform ?? "linux/amd64");
    const ttlMs = o.cacheTtlMs ?? 5 * 60_000;
    this.#timeoutMs = o.timeoutMs ?? 2000;
    if (!(ttlMs >= 0)) {
      throw new TypeError(`Invalid cacheTtlMs ${o.cacheTtlMs}: must be >= 0`);
    }
    if (!(this.#timeoutMs > 0)) {
      throw new TypeError(`Invalid timeoutMs ${o.timeoutMs}: must be > 0`);
    }
    this.#plainHttp = new Set(o.plainHttpRegistries ?? []);
    const bounds = {
      maxEntries: o.cacheSize ?? 1000,
      maxBytes: o.cacheBytes ?? 64 * 1024 * 1024,
      sizeOf: configBytes,
      ...(o.now ? { now: o.now } : {}),
    };
    this.#tags = new RefreshingCache({ ttlMs, ...bounds });
    this.#pinned = new RefreshingCache({ ttlMs: Infinity, ...bounds });
    this.#configs = new RefreshingCache({ ttlMs: Infinity, ...bounds });
    this.#client = Deno.createHttpClient({
      ...(o.caCerts ? { caCerts: o.caCerts } : {}),
      poolMaxIdlePerHost: 4,
    });
  }

  /** The entrypoint and cmd of `image` for the configured platform. `credentials` are tried
   * in order after an anonymous attempt; `cached` is true when no registry was asked. */
  async lookup(
    image: string,
    credentials: RegistryCredential[],
    signal?: AbortSignal,
  ): Promise<{ config: ImageConfig; cached: boolean }> {
    let named: Named;
    try {
      named = this.#named(image, credentials);
    } catch (e) {
      throw new ImageLookupError(image, "invalid_reference", (e as Error).message, { cause: e });
    }
    const got = this.#cacheOf(named).get(named.key, this.#loader(image, named, credentials));
    if (!(got instanceof Promise)) return { config: got, cached: true };
    return { config: await untilAborted(got, image, signal), cached: false };
  }

  /** What lookup() would answer from the cache alone, without waiting: undefined when the
   * registry must be asked, or the name is invalid (lookup() then says why). The webhook
   * answers an admission whose images are all cached in one turn of the event loop. */
  cached(image: string, credentials: RegistryCredential[]): ImageConfig | undefined {
    let named: Named;
    try {
      named = this.#named(image, credentials);
    } catch {
      return undefined;
    }
    return this.#cacheOf(named).peek(named.key, this.#loader(image, named, credentials));
  }

  /** Resolves once no registry lookup is in flight, background refreshes included: a test
   * awaits a refresh with it instead of sleeping. */
  async settled(): Promise<void> {
    await Promise.all([this.#tags.settled(), this.#pinned.settled()]);
  }

  /** The parsed reference of `image` and its cache key with these credentials. The
   * credentials are part of the key: a Pod that cannot read a private image must not learn
   * its entrypoint from another Pod's lookup. Pods of one rollout share pull secrets, so
   * they still share the cache and, when concurrent, one request. Kept per credentials
   * array: the webhook passes the same array while a Pod's pull secrets are cached, so a
   * cached lookup parses and hashes nothing (both were a tenth of an admission's CPU). */
  #named(image: string, credentials: RegistryCredential[]): Named {
    let names = this.#names.get(credentials);
    if (!names) this.#names.set(credentials, names = new Map());
    let named = names.get(image);
    if (!named) {
      const ref = parseReference(image);
      named = {
        ref,
        key: `${formatReference(ref)}|${formatPlatform(this.platform)}|${fingerprint(credentials)}`,
      };
      if (names.size >= 1000) names.clear();
      names.set(image, named);
    }
    return named;
  }

  #cacheOf({ ref }: Named): RefreshingCache<ImageConfig> {
    return ref.digest ? this.#pinned : this.#tags;
  }

  /** The registry requests for `image`, made once for all who ask while they run (the cache
   * shares the load). Past cacheTtl, a tag is looked up again in the background while the
   * cached answer still serves: no admission waits for it, and a registry outage at that
   * moment costs nothing until the entry is twice cacheTtl old. */
  #loader(
    image: string,
    { ref }: Named,
    credentials: RegistryCredential[],
  ): () => Promise<ImageConfig> {
    return () => this.#resolve(image, ref, credentials);
  }

  /** Closes pooled connections, so a process or test can end promptly. */
  close(): void {
    this.#client.close();
  }

  async #resolve(
    image: string,
    ref: ImageReference,
    credentials: RegistryCredential[],
  ): Promise<ImageConfig> {
    const session = new RegistrySession({
      image,
      reference: ref,
      credentials,
      client: this.#client,
      plainHttp: this.#plainHttp,
      // Its own deadline, not the caller's signal: other callers may share this lookup.
      signal: AbortSignal.timeout(this.#timeoutMs),
    });
    const bad = (why: string) => new ImageLookupError(image, "bad_response", why);

    const wanted = ref.digest ?? ref.tag!;
    let { bytes, contentType } = await session.manifest(wanted);
    let digest = ref.digest ?? await sha256Digest(bytes);
    if (ref.digest && !await digestMatches(bytes, ref.digest)) {
      throw bad(`manifest does not match its digest ${ref.digest}`);
    }
    let manifest = parse(image, bytes, contentType);
    if (manifest.kind === "index") {
      const entry = selectManifest(manifest.manifests, this.platform);
      if (!entry) {
        const offered = manifest.manifests.flatMap((m) =>
          m.platform ? [formatPlatform(m.platform)] : []
        );
        throw new ImageLookupError(
          image,
          "no_platform",
          `no manifest for platform ${formatPlatform(this.platform)} (the index has ${
            offered.length ? offered.join(", ") : "no platforms"
          })`,
        );
      }
      digest = entry.digest;
      const known = this.#configs.peek(digest);
      if (known) return known;
      ({ bytes, contentType } = await session.manifest(digest));
      if (!await digestMatches(bytes, digest)) {
        throw bad(`manifest does not match its digest ${digest}`);
      }
      manifest = parse(image, bytes, contentType);
      if (manifest.kind !== "image") throw bad(`${digest} is an index inside an index`);
    }
    const known = this.#configs.peek(digest);
    if (known) return known;

    const configDigest = manifest.config.digest;
    const blob = await session.blob(configDigest, MAX_CONFIG_BYTES);
    if (!await digestMatches(blob, configDigest)) {
      throw bad(`config blob does not match its digest ${configDigest}`);
    }
    let words: { entrypoint: string[]; cmd: string[] };
    try {
      words = parseImageConfig(blob);
    } catch (e) {
      throw bad((e as Error).message);
    }
    const config: ImageConfig = { ...words, digest };
    this.#configs.set(digest, config);
    return config;
  }
}

function parse(image: string, bytes: Uint8Array, contentType: string) {
  try {
    return parseManifest(bytes, contentType);
  } catch (e) {
    throw new ImageLookupError(image, "not_an_image", (e as Error).message, { cause: e });
  }
}

/** Resolves as `p` does, or rejects as soon as `signal` aborts (the shared work goes on for
 * the other callers). */
function untilAborted<T>(p: Promise<T>, image: string, signal?: AbortSignal): Promise<T> {
  if (!signal) return p;
  const gaveUp = () => {
    const timedOut = signal.reason instanceof DOMException && signal.reason.name === "TimeoutError";
    return new ImageLookupError(
      image,
      timedOut ? "timeout" : "aborted",
      timedOut ? "the caller's deadline passed" : "the caller gave up",
      { cause: signal.reason },
    );
  };
  if (signal.aborted) return Promise.reject(gaveUp());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(gaveUp());
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** An image name parsed, with its cache key for one list of credentials. */
interface Named {
  ref: ImageReference;
  key: string;
}

/** What a config costs the cache: its strings, two bytes a UTF-16 code unit. */
function configBytes(c: ImageConfig): number {
  let units = c.digest.length;
  for (const w of c.entrypoint) units += w.length;
  for (const w of c.cmd) units += w.length;
  return 2 * units;
}

/** A hash of the credentials, so equal sets share a lookup without keeping them as map keys.
 * node:crypto's, because it is synchronous: crypto.subtle's is a promise per lookup, paid on
 * the admission's synchronous fast path. */
function fingerprint(credentials: RegistryCredential[]): string {
  const text = JSON.stringify(
    credentials.map((c) => [c.username ?? "", c.password ?? "", c.identityToken ?? ""]),
  );
  return createHash("sha256").update(text).digest("hex");
}
