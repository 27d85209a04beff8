/** The gRPC endpoint on a unix socket. A socket left by a previous run is replaced (the
 * kubelet keeps the path; a stale file would make bind fail). Every call is logged by method
 * and volume only: volume contexts carry ServiceAccount tokens. */
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "../log/logger.ts";
import { CsiError } from "./errors.ts";
import { csiPackage } from "./proto.ts";
import { serveThroughRelay, unixHttp2Broken } from "./unix_relay.ts";

export type Handlers = Record<string, (req: never) => Promise<unknown>>;

export interface Endpoint {
  path: string;
  /** Set when served through the loopback relay (unix_relay.ts). */
  loopbackPort?: number;
  close(): Promise<void>;
}

/** Serves the Identity and Node handlers on `socketPath`; resolves once listening. */
export function serveCsi(
  socketPath: string,
  identity: Handlers,
  node: Handlers,
  logger: Logger,
): Promise<Endpoint> {
  const pkg = csiPackage();
  return serveGrpc(
    socketPath,
    [[pkg.Identity.service, identity], [pkg.Node.service, node]],
    logger,
  );
}

/** Serves gRPC services on a unix socket; resolves once listening. `relay` forces (or
 * forbids) the loopback relay that runtimes before Deno 2.7.13 need (unix_relay.ts). */
export async function serveGrpc(
  socketPath: string,
  services: Array<[grpc.ServiceDefinition, Handlers]>,
  logger: Logger,
  o: { relay?: boolean } = {},
): Promise<Endpoint> {
  const bytes = new TextEncoder().encode(socketPath).length;
  if (bytes > 107) {
    // Linux's sun_path holds 108 bytes with the final NUL; bind would only say EINVAL.
    throw new TypeError(`socket path ${socketPath} is ${bytes} bytes; a unix socket allows 107`);
  }
  await Deno.remove(socketPath).catch(() => {});
  await Deno.mkdir(socketPath.replace(/\/[^/]*$/, "") || "/", { recursive: true });
  const server = new grpc.Server();
  for (const [service, handlers] of services) server.addService(service, wrap(handlers, logger));
  const shutdown = () => new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
  if (o.relay ?? unixHttp2Broken()) {
    const relay = await serveThroughRelay(server, socketPath, logger);
    logger.debug("serving the unix socket through a loopback relay (runtime before 2.7.13)", {
      socket: socketPath,
    });
    return {
      path: socketPath,
      loopbackPort: relay.loopbackPort,
      close: async () => (await relay.close(), await shutdown()),
    };
  }
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(
      `unix://${socketPath}`,
      grpc.ServerCredentials.createInsecure(),
      (e) => e ? reject(e) : resolve(),
    )
  );
  return { path: socketPath, close: shutdown };
}

function wrap(handlers: Handlers, logger: Logger): grpc.UntypedServiceImplementation {
  const out: grpc.UntypedServiceImplementation = {};
  for (const [method, fn] of Object.entries(handlers)) {
    out[method] = (
      call: grpc.ServerUnaryCall<unknown, unknown>,
      callback: grpc.sendUnaryData<unknown>,
    ) => {
      const req = call.request as { volumeId?: string; targetPath?: string };
      const started = performance.now();
      fn(req as never).then(
        (res) => {
          logger.debug("csi call", {
            method,
            volume: req.volumeId,
            target: req.targetPath,
            ms: ms(started),
          });
          callback(null, res);
        },
        (e: unknown) => {
          const code = e instanceof CsiError ? e.code : grpc.status.INTERNAL;
          const message = e instanceof Error ? e.message : String(e);
          logger.warn("csi call failed", {
            method,
            volume: req.volumeId,
            code: grpc.status[code],
            error: message,
          });
          callback({ code, details: message });
        },
      );
    };
  }
  return out;
}

function ms(started: number): number {
  return Math.round(performance.now() - started);
}
