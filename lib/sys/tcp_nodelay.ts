/** TCP_NODELAY on a listening socket, and on a client's connections, through libc's
 * setsockopt(2): neither Deno.listenTls nor Deno's fetch offers a way to set it, and without it
 * a small write that follows another still unacknowledged waits for the peer's delayed ACK
 * (40 ms on Linux): a server's answer behind its TLS session tickets, a client's request
 * behind its HTTP/2 SETTINGS acknowledgement. Linux copies the option to every socket a
 * listener accepts. A listener is found by its port in /proc/net/tcp{,6} and by its inode
 * among this process's open files; a client's sockets among its open files alone, since the
 * kernel's tables of a host's network can be long to read. */
import { errorText, setIntSockopt } from "./libc.ts";

const IPPROTO_TCP = 6;
const TCP_NODELAY = 1;
const LISTEN = "0A";

/** Sets TCP_NODELAY on this process's listening sockets on `port`; returns how many. Throws
 * when one cannot be set. */
export function setNoDelayOnListeners(port: number): number {
  const inodes = socketInodes(port);
  const fds = socketFds(inodes);
  if (fds.length === 0) return 0;
  for (const fd of fds) {
    const errno = setIntSockopt(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    if (errno !== 0) throw new Error(`setsockopt(TCP_NODELAY) on fd ${fd}: ${errorText(errno)}`);
  }
  return fds.length;
}

/** Sets TCP_NODELAY on every TCP socket this process holds; returns how many took it (other
 * sockets refuse the option and are skipped). For a short-lived client whose only TCP sockets
 * are its own connections, the injector: Deno's fetch turns the option off and has no setting
 * for it. Never throws: without /proc nothing is set. */
export function setNoDelayOnOwnSockets(): number {
  try {
    return socketFds().filter((fd) => setIntSockopt(fd, IPPROTO_TCP, TCP_NODELAY, 1) === 0)
      .length;
  } catch {
    return 0;
  }
}

/** Inodes of the sockets with local `port` in TCP `state` (hex, as in the kernel's tables;
 * listening by default), IPv4 and IPv6, of every process in this network namespace. */
export function socketInodes(port: number, state = LISTEN): Set<string> {
  const inodes = new Set<string>();
  for (const row of tcpRows()) {
    if (row.localPort === port && row.state === state) inodes.add(row.inode);
  }
  return inodes;
}

/** One socket of the kernel's TCP tables; addresses in the kernel's hex. */
export interface TcpRow {
  localPort: number;
  remoteHex: string;
  remotePort: number;
  /** Hex, as in the table: "0A" is LISTEN, "01" ESTABLISHED. */
  state: string;
  inode: string;
}

/** Every socket of /proc/net/tcp and /proc/net/tcp6 with an inode (of every process in this
 * network namespace). */
export function tcpRows(): TcpRow[] {
  const rows: TcpRow[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = Deno.readTextFileSync(table);
    } catch {
      continue; // no IPv6 in this network namespace
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      const [, local] = f[1]?.split(":") ?? [];
      const [remoteHex, remote] = f[2]?.split(":") ?? [];
      if (!local || !remoteHex || !remote || !f[3] || !f[9] || f[9] === "0") continue;
      rows.push({
        localPort: parseInt(local, 16),
        remoteHex,
        remotePort: parseInt(remote, 16),
        state: f[3],
        inode: f[9],
      });
    }
  }
  return rows;
}

/** This process's file descriptors that are sockets with one of these inodes, or every
 * socket when no inodes are given. */
export function socketFds(inodes?: Set<string>): number[] {
  const fds: number[] = [];
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    try {
      const m = Deno.readLinkSync(`/proc/self/fd/${entry.name}`).match(/^socket:\[(\d+)\]$/);
      if (m && (!inodes || inodes.has(m[1]!))) fds.push(Number(entry.name));
    } catch {
      // closed while listing
    }
  }
  return fds;
}
