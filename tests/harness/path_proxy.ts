/** A small path-routing reverse proxy in front of OpenBao: a stand-in for an operator's
 * ingress or API gateway that publishes the store under a path (`https://proxy/vault`).
 * Requests under `prefix` are forwarded with the prefix stripped; every other request gets
 * 404 from the proxy itself, so a client that drops the prefix cannot reach the store. */
import { type Leaf, makeCa, makeLeaf } from "./pki.ts";

export interface PathProxy {
  /** `https://127.0.0.1:<port>` (or http:// without TLS), without the prefix. */
  origin: string;
  /** Every request line the proxy received, e.g. `GET /vault/v1/demo-kv/data/x?version=2`. */
  seen: string[];
  close(): Promise<void>;
}

export interface PathProxyOptions {
  /** Where to forward, e.g. OpenBao's https://127.0.0.1:port. */
  target: string;
  /** PEM the target's certificate is checked against. */
  targetCa: string;
  /** e.g. "/vault". */
  prefix: string;
  /** Serve TLS with this certificate; plain http without it. */
  tls?: Leaf;
  /** The status the proxy answers a request for `path` (after the prefix) with itself, an
   * error body and no store behind it: 403 as a gateway that filters the store's API would,
   * 503 as one whose store is restarting; undefined forwards it. */
  answer?: (path: string) => number | undefined;
  /** Paths (after the prefix) whose request is forwarded but whose answer the proxy drops,
   * answering 502 itself, as a gateway that lost the store's answer after the store acted. */
  lose?: (path: string) => boolean;
}

export async function startPathProxy(o: PathProxyOptions): Promise<PathProxy> {
  const client = Deno.createHttpClient({ caCerts: [o.targetCa] });
  const seen: string[] = [];
  const tls = o.tls
    ? { cert: await Deno.readTextFile(o.tls.certFile), key: await Deno.readTextFile(o.tls.keyFile) }
    : {};
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {}, ...tls },
    async (req) => {
      // The raw path as sent: URL keeps percent-encoding, so what is forwarded is what arrived.
      const url = new URL(req.url);
      seen.push(`${req.method} ${url.pathname}${url.search}`);
      if (!url.pathname.startsWith(o.prefix + "/")) {
        return new Response("no route\n", { status: 404 });
      }
      const status = o.answer?.(url.pathname.slice(o.prefix.length));
      if (status !== undefined) {
        return Response.json({ errors: [`answered ${status} by the proxy`] }, { status });
      }
      const headers = new Headers(req.headers);
      headers.delete("host");
      const res = await fetch(`${o.target}${url.pathname.slice(o.prefix.length)}${url.search}`, {
        method: req.method,
        headers,
        body: req.body,
        client,
        redirect: "manual",
      });
      if (o.lose?.(url.pathname.slice(o.prefix.length))) {
        await res.body?.cancel();
        return Response.json({ errors: ["upstream answer lost by the proxy"] }, { status: 502 });
      }
      return new Response(res.body, { status: res.status, headers: res.headers });
    },
  );
  return {
    origin: `${o.tls ? "https" : "http"}://127.0.0.1:${server.addr.port}`,
    seen,
    async close() {
      await server.shutdown();
      client.close();
    },
  };
}

/** A proxy at `/vault` in front of `bao`, with a fresh CA named `name` (files in `dir`) when
 * `tls` is set; `caCert`/`caFile` are what a client must trust to reach it. */
export async function proxyInFront(
  bao: { address: string; caCert: string },
  dir: string,
  name: string,
  tls: boolean,
  more: Pick<PathProxyOptions, "answer" | "lose"> = {},
): Promise<PathProxy & { caCert?: string; caFile?: string }> {
  const o = { target: bao.address, targetCa: bao.caCert, prefix: "/vault", ...more };
  if (!tls) return await startPathProxy(o);
  const ca = await makeCa(dir, `${name}-ca`);
  const leaf = await makeLeaf(dir, name, ca, ["IP:127.0.0.1"]);
  const p = await startPathProxy({ ...o, tls: leaf });
  return { ...p, caCert: ca.cert, caFile: ca.certFile };
}
