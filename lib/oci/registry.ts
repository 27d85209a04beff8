/** The distribution API for one repository: GET manifests and blobs, with the registry's
 * own authentication dance (anonymous first, then each credential; Basic or a Bearer token
 * from the realm the registry names), redirects to blob storage, and size limits. */
import { BodyTooLargeError, readBody } from "../http/body.ts";
import { base64Utf8 } from "../sys/base64.ts";
import { z } from "zod";
import { VERSION } from "../version.ts";
import { classify } from "../http/transport.ts";
import type { RegistryCredential } from "./credentials.ts";
import { ImageLookupError } from "./errors.ts";
import { MANIFEST_TYPES } from "./manifest.ts";
import type { ImageReference } from "./reference.ts";

/** distribution refuses to store manifests above 4 MiB; nothing larger is genuine. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Image configs carry history and labels; a few MiB is already unusual. */
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;
const MAX_REDIRECTS = 5;

export interface RegistrySessionOptions {
  /** The image as the Pod names it, for error messages. */
  image: string;
  reference: ImageReference;
  credentials: RegistryCredential[];
  client: Deno.HttpClient;
  /** Hosts (with port) that may be reached over plain http; every other one needs https. */
  plainHttp: ReadonlySet<string>;
  /** Ends every request; a TimeoutError reason is reported as a timeout. */
  signal: AbortSignal;
}

const TokenAnswer = z.union([
  z.object({ token: z.string().min(1) }).transform((t) => t.token),
  z.object({ access_token: z.string().min(1) }).transform((t) => t.access_token),
]);
const ErrorAnswer = z.object({ errors: z.array(z.object({ code: z.string() })).min(1) });

/** A parsed `WWW-Authenticate` challenge. */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses the first challenge of a `WWW-Authenticate` header, e.g.
 * `Bearer realm="https://auth.example/token",service="registry",scope="repository:a:pull"`. */
export function parseChallenge(header: string | null): Challenge {
  // Without a header, Basic is the only scheme a client can still try.
  const m = header?.trim().match(/^(\S+)\s*(.*)$/s);
  if (!m) return { scheme: "basic", params: {} };
  const params: Record<string, string> = {};
  for (const p of m[2]!.matchAll(/([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g)) {
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, "$1") : p[3]!;
  }
  return { scheme: m[1]!.toLowerCase(), params };
}

/** One lookup's conversation with a registry; remembers the authorization that worked so the
 * blob request after the manifest does not repeat the dance. */
export class RegistrySession {
  readonly #o: RegistrySessionOptions;
  readonly #base: URL;
  #authorization?: string;

  constructor(o: RegistrySessionOptions) {
    this.#o = o;
    const { apiHost, registry } = o.reference;
    const plain = o.plainHttp.has(apiHost) || o.plainHttp.has(registry);
    this.#base = new URL(`${plain ? "http" : "https"}://${apiHost}`);
  }

  /** The manifest or index `ref` (a tag or digest) names, with its Content-Type. */
  async manifest(ref: string): Promise<{ bytes: Uint8Array; contentType: string }> {
    const what = `manifest "${ref}"`;
    const res = await this.#get(`manifests/${ref}`, MANIFEST_TYPES.join(", "), what);
    return {
      bytes: await this.#read(res, MAX_MANIFEST_BYTES, what),
      contentType: res.headers.get("content-type") ?? "",
    };
  }

  /** The blob `digest` names, following the registry's redirect to its storage. */
  async blob(digest: string, maxBytes: number): Promise<Uint8Array> {
    const what = `blob "${digest}"`;
    const res = await this.#get(`blobs/${digest}`, "application/octet-stream, */*", what);
    return await this.#read(res, maxBytes, what);
  }

  #fail(reason: ImageLookupError["reason"], detail: string, status?: number, cause?: unknown) {
    return new ImageLookupError(this.#o.image, reason, detail, { status, cause });
  }

  /** A successful answer for `/v2/<repository>/<path>`; throws for anything else. */
  async #get(path: string, accept: string, what: string): Promise<Response> {
    const url = new URL(`/v2/${this.#o.reference.repository}/${path}`, this.#base);
    const res = await this.#authorized(url, accept);
    if (res.ok) return res;
    const code = await this.#errorCode(res);
    const where = `${what} of repository "${this.#o.reference.repository}" on ${this.#base.host}`;
    if (res.status === 404) throw this.#fail("not_found", `no ${where}${code}`, 404);
    if (res.status === 401 || res.status === 403) {
      throw this.#fail("unauthorized", `${where}: HTTP ${res.status}${code}`, res.status);
    }
    throw this.#fail("registry_error", `${where}: HTTP ${res.status}${code}`, res.status);
  }

  /** Sends with the authorization that worked before; otherwise anonymously, then with each
   * credential in turn until the registry accepts one. */
  async #authorized(url: URL, accept: string): Promise<Response> {
    if (this.#authorization) return await this.#send(url, accept, this.#authorization);
    const anonymous = await this.#send(url, accept);
    if (anonymous.status !== 401 && anonymous.status !== 403) return anonymous;
    const challenge = parseChallenge(anonymous.headers.get("www-authenticate"));
    await anonymous.body?.cancel();
    // A Bearer registry may hand anonymous tokens out (public repositories on Docker Hub).
    const attempts = challenge.scheme === "bearer"
      ? [undefined, ...this.#o.credentials]
      : this.#o.credentials;
    let last = anonymous.status;
    for (const credential of attempts) {
      const authorization = await this.#authorize(challenge, credential);
      if (!authorization) continue;
      const res = await this.#send(url, accept, authorization);
      if (res.status !== 401 && res.status !== 403) {
        this.#authorization = authorization;
        return res;
      }
      last = res.status;
      await res.body?.cancel();
    }
    const n = this.#o.credentials.length;
    throw this.#fail(
      "unauthorized",
      `${this.#base.host} refused anonymous access and ${
        n === 0
          ? "no pull secret has a credential for it"
          : n === 1
          ? "the 1 credential from the pull secrets"
          : `all ${n} credentials from the pull secrets`
      } (HTTP ${last})`,
      last,
    );
  }

  /** The Authorization header for `credential` under `challenge`; undefined when this
   * credential cannot be used there or the token service refuses it. */
  async #authorize(
    challenge: Challenge,
    credential: RegistryCredential | undefined,
  ): Promise<string | undefined> {
    const basic = credential?.password !== undefined
      ? "Basic " + base64Utf8(`${credential.username ?? ""}:${credential.password}`)
      : undefined;
    if (challenge.scheme === "basic") return basic;
    if (challenge.scheme !== "bearer") {
      throw this.#fail("bad_response", `unknown authentication scheme "${challenge.scheme}"`);
    }
    let realm: URL;
    try {
      realm = new URL(challenge.params.realm ?? "");
    } catch {
      throw this.#fail("bad_response", `Bearer challenge without a valid realm URL`);
    }
    const scope = challenge.params.scope ?? `repository:${this.#o.reference.repository}:pull`;
    let res: Response;
    if (credential?.identityToken) {
      // An identity token is an OAuth2 refresh token, exchanged as Docker does it.
      const form = new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: credential.identityToken,
        client_id: "secrets-store",
        scope,
      });
      if (challenge.params.service) form.set("service", challenge.params.service);
      res = await this.#send(realm, "application/json", undefined, form);
    } else {
      if (challenge.params.service) realm.searchParams.set("service", challenge.params.service);
      realm.searchParams.set("scope", scope);
      res = await this.#send(realm, "application/json", basic);
    }
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel();
      return undefined;
    }
    if (!res.ok) {
      const code = await this.#errorCode(res);
      throw this.#fail(
        "registry_error",
        `token service ${realm.origin} answered HTTP ${res.status}${code}`,
        res.status,
      );
    }
    const bytes = await this.#read(res, 1024 * 1024, `token from ${realm.origin}`);
    let token: unknown;
    try {
      token = JSON.parse(new TextDecoder().decode(bytes));
    } catch { /* reported below */ }
    const parsed = TokenAnswer.safeParse(token);
    if (!parsed.success) {
      throw this.#fail("bad_response", `token service ${realm.origin} gave no token`);
    }
    return `Bearer ${parsed.data}`;
  }

  /** One request, following redirects; network failures become ImageLookupErrors. */
  async #send(
    url: URL,
    accept: string,
    authorization?: string,
    form?: URLSearchParams,
  ): Promise<Response> {
    for (let hops = 0;; hops++) {
      if (url.protocol !== "https:" && !this.#o.plainHttp.has(url.host)) {
        throw this.#fail(
          "tls",
          `refusing plain ${
            url.protocol.slice(0, -1)
          } to ${url.host}: it is not in plainHttpRegistries`,
        );
      }
      const headers: Record<string, string> = { accept, "user-agent": `secrets-store/${VERSION}` };
      if (authorization) headers.authorization = authorization;
      let res: Response;
      try {
        res = await fetch(url, {
          method: form ? "POST" : "GET",
          headers,
          body: form ?? null,
          client: this.#o.client,
          signal: this.#o.signal,
          redirect: "manual",
        });
      } catch (e) {
        throw this.#networkError(e, url);
      }
      const location = res.headers.get("location");
      if (![301, 302, 303, 307, 308].includes(res.status) || !location) return res;
      await res.body?.cancel();
      if (hops === MAX_REDIRECTS) {
        throw this.#fail("bad_response", `more than ${MAX_REDIRECTS} redirects from ${url.host}`);
      }
      const next = new URL(location, url);
      // Blob storage (S3, GCS, a CDN) gets a signed URL and must not see the registry's
      // credentials; S3 even refuses a request that carries both.
      if (next.origin !== url.origin) authorization = undefined;
      if (res.status === 303) form = undefined;
      url = next;
    }
  }

  /** Reads at most `max` bytes of a body. */
  async #read(res: Response, max: number, what: string): Promise<Uint8Array> {
    try {
      return await readBody(res, max);
    } catch (e) {
      if (e instanceof BodyTooLargeError) {
        throw this.#fail("bad_response", `${what} is larger than ${max} bytes`);
      }
      throw this.#networkError(e, new URL(res.url));
    }
  }

  /** ` (MANIFEST_UNKNOWN)` from a distribution error body, or "". */
  async #errorCode(res: Response): Promise<string> {
    try {
      const body = await this.#read(res, 64 * 1024, "error body");
      const parsed = ErrorAnswer.safeParse(JSON.parse(new TextDecoder().decode(body)));
      return parsed.success ? ` (${parsed.data.errors.map((e) => e.code).join(", ")})` : "";
    } catch {
      return "";
    }
  }

  #networkError(e: unknown, url: URL): ImageLookupError {
    const signal = this.#o.signal;
    if (signal.aborted) {
      const timedOut = signal.reason instanceof DOMException &&
        signal.reason.name === "TimeoutError";
      return timedOut
        ? this.#fail("timeout", `no answer from ${url.host} in time`, undefined, e)
        : this.#fail("aborted", `the caller gave up while waiting for ${url.host}`, undefined, e);
    }
    const t = classify(e);
    // rustls' words for an answer that is not TLS at all: most often a plain-http registry.
    if (url.protocol === "https:" && /InvalidContentType|corrupt message/.test(t.message)) {
      return this.#fail(
        "tls",
        `${url.host} does not speak TLS (${t.message}); a plain-http registry must be listed in plainHttpRegistries`,
        undefined,
        e,
      );
    }
    return this.#fail(t.kind, `${url.host}: ${t.message}`, undefined, e);
  }
}
