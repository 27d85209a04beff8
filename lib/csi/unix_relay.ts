/** gRPC on a unix socket for Deno runtimes whose node:http2 writes answer frames only to TCP
 * handles (Deno 2.7.5 to 2.7.12; fixed in 2.7.13, denoland/deno#33208): there a grpc-js
 * server bound to a unix socket reads requests and never answers. The compiled executable
 * is built on 2.7.11 (the newest runtime these machines can obtain, scripts/compile.sh), so
 * on such a runtime the socket is served by a byte relay: each connection accepted on the
 * unix socket is copied both ways to a loopback TCP connection, and the TCP side is handed
 * to grpc-js. The loopback listener admits only connections the relay itself made (matched
 * by their source port), so nothing else on the node reaches the driver around the socket's
 * file permissions. On a fixed runtime none of this runs. */
import net from "node:net";
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "../log/logger.ts";

/** True on a runtime whose node:http2 cannot answer on a unix socket. */
export function unixHttp2Broken(version: string = Deno.version.deno): boolean {
  const [major = 0, minor = 0, patch = 0] = version.split(/[.+-]/).map(Number);
  if (major !== 2) return major < 2;
  return minor < 7 || (minor === 7 && patch < 13);
}

/** The kubelet opens a handful of connections; anything beyond this is refused. */
export const MAX_RELAYED = 64;
/** How long the loopback side waits to learn that a connection is the relay's own. */
const ADMIT_MS = 2_000;

export interface Relay {
  /** The loopback listener's port (for tests that knock on it directly). */
  loopbackPort: number;
  close(): Promise<void>;
}

/** Serves `server` on `socketPath` through the relay; resolves once both sides listen. */
export async function serveThroughRelay(
  server: grpc.Server,
  socketPath: string,
  logger: Logger,
): Promise<Relay> {
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const ours = new Set<number>();
  const waiting = new Map<number, () => void>();

  // The relay's connect resolves after the listener may already have seen the connection, so
  // an unknown port waits briefly for the relay to register it.
  const admit = (port: number): Promise<boolean> => {
    if (ours.has(port)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => (waiting.delete(port), resolve(false)), ADMIT_MS);
      waiting.set(port, () => (clearTimeout(timer), waiting.delete(port), resolve(true)));
    });
  };
  const loopback = net.createServer((socket) => {
    const port = socket.remotePort ?? 0;
    admit(port).then((ok) => {
      if (ok && !socket.destroyed) return injector.injectConnection(socket);
      logger.warn("loopback connection refused: not made by the unix socket relay", { port });
      socket.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    loopback.once("error", reject);
    loopback.listen(0, "127.0.0.1", () => resolve());
  });
  const loopbackPort = (loopback.address() as net.AddressInfo).port;

  const listener = Deno.listen({ transport: "unix", path: socketPath });
  const open = new Set<Deno.Conn>();
  let pairs = 0;
  const relay = async (conn: Deno.Conn) => {
    let up: Deno.TcpConn | undefined;
    pairs++;
    try {
      up = await Deno.connect({ hostname: "127.0.0.1", port: loopbackPort });
      const port = (up.localAddr as Deno.NetAddr).port;
      ours.add(port);
      waiting.get(port)?.();
      open.add(up);
      await Promise.allSettled([
        conn.readable.pipeTo(up.writable),
        up.readable.pipeTo(conn.writable),
      ]);
      ours.delete(port);
    } catch (e) {
      logger.warn("unix socket relay connection failed", { error: (e as Error).message });
    } finally {
      pairs--;
      for (const c of [conn, up]) {
        if (!c) continue;
        open.delete(c);
        try {
          c.close();
        } catch { /* already closed by its pipe */ }
      }
    }
  };
  let closed = false;
  const accepting = (async () => {
    while (!closed) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (e) {
        if (closed) return;
        // EMFILE and the like: say so, wait a moment, go on accepting.
        logger.warn("unix socket accept failed", { error: (e as Error).message });
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      if (pairs >= MAX_RELAYED) {
        logger.warn("unix socket connection refused: too many open", { limit: MAX_RELAYED });
        conn.close();
        continue;
      }
      open.add(conn);
      relay(conn);
    }
  })();

  return {
    loopbackPort,
    close: async () => {
      closed = true;
      listener.close();
      for (const c of open) {
        try {
          c.close();
        } catch { /* already closed */ }
      }
      await accepting;
      await new Promise<void>((resolve) => loopback.close(() => resolve()));
      injector.destroy();
    },
  };
}
