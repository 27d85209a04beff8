/** The HTTPS endpoint the API server calls. The certificate is re-read when its files change
 * (cert-manager and Secret volume updates) without dropping requests: a new listener opens on
 * the same port (SO_REUSEPORT) before the old one drains. */
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
  let server = start(o, pair, o.port);
  const port = server.addr.port;
  let reloads = 0;
  let stopping = false;
  const timer = setInterval(async () => {
    try {
      const next = await readPair(o);
      if (stopping || (next.cert === pair.cert && next.key === pair.key)) return;
      const fresh = start(o, next, port);
      const old = server;
      server = fresh;
      pair = next;
      reloads++;
      await old.shutdown();
      o.logger.info("serving certificate reloaded", { file: o.certFile });
    } catch (e) {
      // A half-written pair (cert updated, key not yet) fails to load: keep the old one.
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
      stopping = true;
      clearInterval(timer);
      await server.shutdown();
    },
  };
}

function start(
  o: ServeOptions,
  pair: { cert: string; key: string },
  port: number,
): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({
    hostname: o.hostname,
    port,
    cert: pair.cert,
    key: pair.key,
    reusePort: true,
    onListen: () => {},
    onError: (e) => {
      o.logger.error("request failed", { error: (e as Error).message });
      return new Response("internal error\n", { status: 500 });
    },
  }, o.handler);
}

async function readPair(o: ServeOptions): Promise<{ cert: string; key: string }> {
  const [cert, key] = await Promise.all([
    Deno.readTextFile(o.certFile),
    Deno.readTextFile(o.keyFile),
  ]);
  return { cert, key };
}
