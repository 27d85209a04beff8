/** The HTTPS endpoint the API server calls, on node:https: Deno.serve writes a response's
 * headers and body separately without TCP_NODELAY, and with the client's delayed ACKs that
 * cost 40 ms on every admission answer larger than about 1 KB (docs/benchmarks.md). The
 * certificate is re-read when its files change and swapped in with setSecureContext, without
 * a restart and without dropping connections. */
import { Buffer } from "node:buffer";
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
    server.listen({ port: o.port, host: o.hostname, reusePort: true }, () => resolve());
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

/** Bodies above this are not read at all: the answer is 413 and the connection is closed. */
const BODY_LIMIT = 16 * 1024 * 1024;

/** Adapts node's request/response to the web Request -> Response handler. The body is read
 * into one buffer first: a streamed body cost more than the admission itself. */
async function respond(o: ServeOptions, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const hasBody = req.method !== "GET" && req.method !== "HEAD";
  const body = hasBody ? await readBody(req, BODY_LIMIT) : undefined;
  let response: Response;
  if (body === null) {
    res.shouldKeepAlive = false;
    response = new Response(`request body larger than ${BODY_LIMIT} bytes\n`, { status: 413 });
  } else {
    response = await o.handler(
      new Request(`https://${req.headers.host ?? "localhost"}${req.url ?? "/"}`, {
        method: req.method,
        headers: {
          "content-length": req.headers["content-length"] ?? "",
          "content-type": req.headers["content-type"] ?? "",
        },
        body,
      }),
    );
  }
  const bytes = new Uint8Array(await response.arrayBuffer());
  res.writeHead(response.status, {
    ...Object.fromEntries(response.headers),
    "content-length": String(bytes.length),
  });
  // One write for headers and body: see the comment at the top.
  res.end(bytes);
}

/** The whole body, or null once it passes `limit` (the rest is then not read). */
function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array<ArrayBuffer> | null> {
  if (Number(req.headers["content-length"] ?? 0) > limit) return Promise.resolve(null);
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array<ArrayBuffer>[] = [];
    let size = 0;
    req.on("data", (chunk: Uint8Array<ArrayBuffer>) => {
      size += chunk.length;
      if (size > limit) {
        req.pause();
        resolve(null);
      } else chunks.push(chunk);
    });
    req.on("end", () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

async function readPair(o: ServeOptions): Promise<{ cert: string; key: string }> {
  const [cert, key] = await Promise.all([
    Deno.readTextFile(o.certFile),
    Deno.readTextFile(o.keyFile),
  ]);
  return { cert, key };
}
