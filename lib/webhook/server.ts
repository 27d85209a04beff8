/** The HTTPS endpoint the API server calls, on node:https: Deno.serve writes a response's
 * headers and body separately without TCP_NODELAY, and with the client's delayed ACKs that
 * cost 40 ms on every admission answer larger than about 1 KB (docs/benchmarks.md). The
 * certificate is re-read when its files change and swapped in with setSecureContext, without
 * a restart and without dropping connections. */
import https from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "../log/logger.ts";

export interface ServeOptions {
  hostname: string;
  port: number;
  certFile: string;
  keyFile: string;
  /** How often the certificate files are checked for changes. */
  reloadEveryMs?: number;
  handler: (req: Request) => Response | Promise<Response>;
  logger: Logger;
}

export interface RunningServer {
  port: number;
  /** How many times the serving certificate was replaced. */
  reloads(): number;
  shutdown(): Promise<void>;
}

/** Starts serving; resolves once listening. */
export async function serveHttps(o: ServeOptions): Promise<RunningServer> {
  let pair = await readPair(o);
  const server = https.createServer({ ...pair, noDelay: true }, (req, res) => {
    respond(o, req, res).catch((e) => {
      o.logger.error("request failed", { error: (e as Error).message });
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain" });
      res.end("internal error\n");
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.hostname, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  let reloads = 0;
  const timer = setInterval(async () => {
    try {
      const next = await readPair(o);
      if (next.cert === pair.cert && next.key === pair.key) return;
      server.setSecureContext(next);
      pair = next;
      reloads++;
      o.logger.info("serving certificate reloaded", { file: o.certFile });
    } catch (e) {
      // A half-written pair (certificate updated, key not yet) fails to load: keep the old one.
      o.logger.warn("serving certificate not reloaded", {
        file: o.certFile,
        error: (e as Error).message,
      });
    }
  }, o.reloadEveryMs ?? 10_000);
  return {
    port,
    reloads: () => reloads,
    async shutdown() {
      clearInterval(timer);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const DRAIN_LIMIT = 16 * 1024 * 1024;

/** Adapts node's request/response to the web Request -> Response handler. */
async function respond(o: ServeOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const hasBody = req.method !== "GET" && req.method !== "HEAD";
  const request = new Request(`https://${req.headers.host ?? "localhost"}${req.url ?? "/"}`, {
    method: req.method,
    headers: {
      "content-length": req.headers["content-length"] ?? "",
      "content-type": req.headers["content-type"] ?? "",
    },
    body: hasBody ? ReadableStream.from(req as AsyncIterable<Uint8Array>) : undefined,
  });
  const response = await o.handler(request);
  const body = new Uint8Array(await response.arrayBuffer());
  // A refused body (too large) is read and dropped, so the client gets the answer instead
  // of a reset connection; past DRAIN_LIMIT the connection is simply closed.
  if (hasBody && !req.readableEnded) {
    if (Number(req.headers["content-length"] ?? 0) > DRAIN_LIMIT) res.shouldKeepAlive = false;
    else req.resume();
  }
  res.writeHead(response.status, {
    ...Object.fromEntries(response.headers),
    "content-length": String(body.length),
  });
  // One write for headers and body: see the comment at the top.
  res.end(body);
}

async function readPair(o: ServeOptions): Promise<{ cert: string; key: string }> {
  const [cert, key] = await Promise.all([
    Deno.readTextFile(o.certFile),
    Deno.readTextFile(o.keyFile),
  ]);
  return { cert, key };
}
