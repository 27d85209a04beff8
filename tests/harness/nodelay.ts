/** TCP_NODELAY of this process's sockets, read with getsockopt(2), for the tests of the code
 * that sets it (lib/sys/tcp_nodelay.ts and its callers). */
import { socketFds, tcpRows } from "../../lib/sys/tcp_nodelay.ts";

const ESTABLISHED = "01";

/** TCP_NODELAY (0 or 1) of each of this process's established sockets whose local or remote
 * port is `port`, by the side given. */
export function noDelayOf(side: "local" | "remote", port: number): number[] {
  const inodes = new Set(
    tcpRows()
      .filter((r) =>
        r.state === ESTABLISHED && (side === "local" ? r.localPort : r.remotePort) === port
      )
      .map((r) => r.inode),
  );
  const libc = Deno.dlopen("libc.so.6", {
    getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  });
  try {
    return socketFds(inodes).map((fd) => {
      const value = new Int32Array(1);
      const size = new Uint32Array([4]);
      if (libc.symbols.getsockopt(fd, 6, 1, value, size) !== 0) throw new Error("getsockopt");
      return value[0]!;
    });
  } finally {
    libc.close();
  }
}
