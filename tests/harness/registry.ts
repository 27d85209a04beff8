/** A real OCI registry (distribution v2, Debian's docker-registry) on 127.0.0.1 with TLS and
 * authentication on every request, and a pusher that uploads test images through its HTTP
 * API, since there is no docker client here. */
import { type Ca, makeCa, makeLeaf } from "./pki.ts";
import { freePort, runOk, spawnServer, waitUntil } from "./process.ts";
import { startTokenService, type TokenService } from "./registry_token.ts";

const BINARY = "/usr/bin/docker-registry";

export interface RegistryOptions {
  /** `htpasswd` (Basic) by default; `token` puts a Bearer token service in front. */
  auth?: "htpasswd" | "token";
  /** Serve over https (default) or plain http. */
  tls?: boolean;
  /** Redirect blob downloads to a separate storage host, as registries on S3 or GCS do.
   * The storage host refuses requests that carry an Authorization header, as S3 does. */
  redirectBlobs?: boolean;
}

export interface Registry {
  /** Host and port as an image name holds them, e.g. `127.0.0.1:40123`. */
  host: string;
  url: string;
  /** PEM of the CA that signed the registry's certificate. */
  caCert: string;
  /** A user that may pull and push everything. */
  user: { username: string; password: string };
  /** Present in `token` mode. */
  tokenService?: TokenService | undefined;
  /** Blob downloads the storage host served (in `redirectBlobs` mode). */
  storageRequests: number;
  logFile: string;
  /** Manifest and blob GETs the registry has counted so far, for every repository. */
  pulls(): Promise<number>;
  push: ImagePusher;
  stop(): Promise<void>;
}

/** Starts a registry with its own CA, storage and user in a new folder under `dir`. */
export async function startRegistry(dir: string, o: RegistryOptions = {}): Promise<Registry> {
  try {
    Deno.statSync(BINARY);
  } catch {
    throw new Error(`${BINARY} is missing: run scripts/peers/install-registry.sh first`);
  }
  const home = await Deno.makeTempDir({ dir, prefix: "registry-" });
  const ca = await makeCa(home, "registry-ca");
  const leaf = await makeLeaf(home, "registry", ca, ["IP:127.0.0.1", "DNS:localhost"]);
  const user = { username: "pusher", password: "pw-" + crypto.randomUUID() };
  const [port, metricsPort] = [freePort(), freePort()];
  const scheme = o.tls === false ? "http" : "https";
  const url = `${scheme}://127.0.0.1:${port}`;

  const cleanups: (() => Promise<void>)[] = [];
  const stopAll = async () => {
    for (const c of cleanups.reverse()) await c();
  };
  try {
    let auth: Record<string, unknown>;
    let tokenService: TokenService | undefined;
    if (o.auth === "token") {
      tokenService = await startTokenService(home, ca, { [user.username]: user.password });
      cleanups.push(tokenService.stop);
      auth = {
        token: {
          realm: tokenService.realm,
          service: tokenService.service,
          issuer: tokenService.issuer,
          rootcertbundle: tokenService.signerCertFile,
        },
      };
    } else {
      // bcrypt is the only hash distribution accepts.
      const line = await runOk("htpasswd", ["-nbB", user.username, user.password]);
      await Deno.writeTextFile(`${home}/htpasswd`, line.trim() + "\n");
      auth = { htpasswd: { realm: "test-registry", path: `${home}/htpasswd` } };
    }
    const storage = { count: 0 };
    let middleware: Record<string, unknown> | undefined;
    if (o.redirectBlobs) {
      const s = await startBlobStorage(home, ca, `${home}/data`, storage);
      cleanups.push(s.stop);
      middleware = { storage: [{ name: "redirect", options: { baseurl: s.url } }] };
    }
    const config = {
      version: 0.1,
      log: { level: "warn", accesslog: { disabled: true } },
      storage: { filesystem: { rootdirectory: `${home}/data` } },
      http: {
        addr: `127.0.0.1:${port}`,
        secret: crypto.randomUUID(),
        debug: {
          addr: `127.0.0.1:${metricsPort}`,
          prometheus: { enabled: true, path: "/metrics" },
        },
        ...(scheme === "https" ? { tls: { certificate: leaf.certFile, key: leaf.keyFile } } : {}),
      },
      auth,
      ...(middleware ? { middleware } : {}),
    };
    // YAML is a superset of JSON.
    await Deno.writeTextFile(`${home}/config.yml`, JSON.stringify(config, null, 2));
    const server = spawnServer("registry", home, BINARY, ["serve", `${home}/config.yml`]);
    cleanups.push(server.stop);

    const client = Deno.createHttpClient({ caCerts: [ca.cert] });
    cleanups.push(() => Promise.resolve(client.close()));
    await waitUntil(
      "registry",
      async () => {
        const r = await fetch(`${url}/v2/`, { client });
        await r.body?.cancel();
        return r.status === 401;
      },
      15_000,
      server.logFile,
    );
    return {
      host: `127.0.0.1:${port}`,
      url,
      caCert: ca.cert,
      user,
      tokenService,
      get storageRequests() {
        return storage.count;
      },
      logFile: server.logFile,
      pulls: () => countPulls(`http://127.0.0.1:${metricsPort}/metrics`),
      push: new ImagePusher(url, client, user),
      stop: stopAll,
    };
  } catch (e) {
    await stopAll();
    throw e;
  }
}

/** Sum of the registry's own counter of manifest and blob GETs (answered or refused), read
 * from its Prometheus endpoint. The counter moves just after an answer is sent, so it is
 * read until it holds still. */
async function countPulls(metricsUrl: string): Promise<number> {
  const read = async () => {
    const text = await (await fetch(metricsUrl)).text();
    return text.split("\n")
      .filter((l) =>
        l.startsWith("registry_http_requests_total{") && l.includes('method="get"') &&
        /handler="(manifest|blob)"/.test(l)
      )
      .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
  };
  let last = await read();
  for (;;) {
    await new Promise((r) => setTimeout(r, 50));
    const now = await read();
    if (now === last) return now;
    last = now;
  }
}

/** Serves files of the registry's storage folder over TLS at the paths the redirect
 * middleware names, as an object store would. */
async function startBlobStorage(home: string, ca: Ca, root: string, counter: { count: number }) {
  const leaf = await makeLeaf(home, "storage", ca, ["IP:127.0.0.1"]);
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: await Deno.readTextFile(leaf.certFile),
    key: await Deno.readTextFile(leaf.keyFile),
    onListen() {},
  }, async (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    if (req.headers.has("authorization")) {
      return new Response("only one auth mechanism allowed", { status: 400 });
    }
    if (path.split("/").includes("..")) return new Response("bad path", { status: 400 });
    try {
      const body = await Deno.readFile(`${root}${path}`);
      counter.count++;
      return new Response(body, { headers: { "content-type": "application/octet-stream" } });
    } catch {
      return new Response("no such object", { status: 404 });
    }
  });
  return { url: `https://127.0.0.1:${server.addr.port}`, stop: () => server.shutdown() };
}

/** What a test image runs; null is written as null, as Docker does for an unset field. */
export interface TestImage {
  entrypoint?: string[] | null;
  cmd?: string[] | null;
  os?: string;
  architecture?: string;
  variant?: string | undefined;
}

const TYPES = {
  oci: {
    index: "application/vnd.oci.image.index.v1+json",
    manifest: "application/vnd.oci.image.manifest.v1+json",
    config: "application/vnd.oci.image.config.v1+json",
    layer: "application/vnd.oci.image.layer.v1.tar+gzip",
  },
  docker: {
    index: "application/vnd.docker.distribution.manifest.list.v2+json",
    manifest: "application/vnd.docker.distribution.manifest.v2+json",
    config: "application/vnd.docker.container.image.v1+json",
    layer: "application/vnd.docker.image.rootfs.diff.tar.gzip",
  },
};
export type ImageFormat = keyof typeof TYPES;

/** Uploads blobs and manifests as `docker push` does, authenticating as the registry asks. */
export class ImagePusher {
  #authorization?: string;

  constructor(
    readonly url: string,
    readonly client: Deno.HttpClient,
    readonly user: { username: string; password: string },
  ) {}

  /** Pushes a one-platform image under `tag`; returns its manifest digest. */
  async image(repo: string, tag: string, image: TestImage, format: ImageFormat = "oci") {
    return (await this.#image(repo, tag, image, format)).digest;
  }

  /** Pushes each image by digest, then an index of them under `tag`; returns the digests. */
  async index(repo: string, tag: string, images: TestImage[], format: ImageFormat = "oci") {
    const manifests = [];
    for (const image of images) {
      const m = await this.#image(repo, undefined, image, format);
      manifests.push({
        mediaType: TYPES[format].manifest,
        digest: m.digest,
        size: m.size,
        platform: {
          os: image.os ?? "linux",
          architecture: image.architecture ?? "amd64",
          ...(image.variant ? { variant: image.variant } : {}),
        },
      });
    }
    const index = { schemaVersion: 2, mediaType: TYPES[format].index, manifests };
    const digest = await this.manifest(repo, tag, TYPES[format].index, index);
    return { digest, manifests: manifests.map((m) => m.digest) };
  }

  /** Uploads a blob (POST then PUT with the digest); returns its digest. */
  async blob(repo: string, bytes: Uint8Array): Promise<string> {
    const digest = await sha256(bytes);
    const start = await this.#request("POST", `/v2/${repo}/blobs/uploads/`);
    const location = new URL(start.headers.get("location")!, this.url);
    location.searchParams.set("digest", digest);
    await this.#request("PUT", location.pathname + location.search, bytes, {
      "content-type": "application/octet-stream",
    });
    return digest;
  }

  /** PUTs a manifest under `ref` (tag or digest); returns its digest. */
  async manifest(repo: string, ref: string, mediaType: string, doc: unknown): Promise<string> {
    const bytes = new TextEncoder().encode(JSON.stringify(doc));
    await this.#request("PUT", `/v2/${repo}/manifests/${ref}`, bytes, {
      "content-type": mediaType,
    });
    return await sha256(bytes);
  }

  async #image(repo: string, tag: string | undefined, image: TestImage, format: ImageFormat) {
    const tar = new Uint8Array(1024); // an empty tar archive: two zero blocks
    const layer = await gzip(tar);
    const config = {
      architecture: image.architecture ?? "amd64",
      os: image.os ?? "linux",
      ...(image.variant ? { variant: image.variant } : {}),
      config: {
        Env: ["PATH=/usr/local/bin:/usr/bin:/bin"],
        Entrypoint: image.entrypoint ?? null,
        Cmd: image.cmd ?? null,
      },
      rootfs: { type: "layers", diff_ids: [await sha256(tar)] },
    };
    const configBytes = new TextEncoder().encode(JSON.stringify(config));
    const manifest = {
      schemaVersion: 2,
      mediaType: TYPES[format].manifest,
      config: {
        mediaType: TYPES[format].config,
        digest: await this.blob(repo, configBytes),
        size: configBytes.length,
      },
      layers: [{
        mediaType: TYPES[format].layer,
        digest: await this.blob(repo, layer),
        size: layer.length,
      }],
    };
    const bytes = new TextEncoder().encode(JSON.stringify(manifest));
    const digest = await sha256(bytes);
    await this.manifest(repo, tag ?? digest, TYPES[format].manifest, manifest);
    return { digest, size: bytes.length };
  }

  /** One request; on 401 it authenticates as the challenge asks (Basic, or a Bearer token
   * from the realm) and tries once more. */
  async #request(
    method: string,
    path: string,
    body?: Uint8Array,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    const send = () =>
      fetch(new URL(path, this.url), {
        method,
        body: (body as Uint8Array<ArrayBuffer> | undefined) ?? null,
        client: this.client,
        headers: this.#authorization ? { ...headers, authorization: this.#authorization } : headers,
      });
    let res = await send();
    if (res.status === 401) {
      await res.body?.cancel();
      this.#authorization = await this.#authorize(res.headers.get("www-authenticate") ?? "");
      res = await send();
    }
    if (!res.ok) {
      throw new Error(`push: ${method} ${path} answered ${res.status}: ${await res.text()}`);
    }
    await res.body?.cancel();
    return res;
  }

  async #authorize(challenge: string): Promise<string> {
    const basic = "Basic " + btoa(`${this.user.username}:${this.user.password}`);
    if (!challenge.startsWith("Bearer ")) return basic;
    const param = (k: string) => challenge.match(new RegExp(`${k}="([^"]*)"`))?.[1] ?? "";
    const token = new URL(param("realm"));
    token.searchParams.set("service", param("service"));
    token.searchParams.set("scope", param("scope"));
    const res = await fetch(token, { client: this.client, headers: { authorization: basic } });
    if (!res.ok) throw new Error(`push: token service answered ${res.status}`);
    return "Bearer " + ((await res.json()) as { token: string }).token;
  }
}

/** "sha256:<hex>" of `bytes`, as OCI digests are written. */
export async function sha256(bytes: Uint8Array): Promise<string> {
  const hash = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return "sha256:" +
    Array.from(new Uint8Array(hash), (b) => b.toString(16).padStart(2, "0")).join("");
}

export async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
