/** shutdown(2) of accepted TCP sockets, through libc: Deno closes the socket of a TLS
 * connection only once its handshake ends, and a peer that never sends its ClientHello (or
 * stops halfway) makes that never, whatever conn.close() is called. Shutting the socket down
 * ends the handshake's pending read, so Deno drops the connection and closes its descriptor
 * itself; the descriptor is never closed here, so it cannot be reused under Deno. Sockets are
 * found by their ports and peer address in /proc/net/tcp{,6} and by inode among this
 * process's open files. */
import { errorText, shutdown } from "./libc.ts";
import { socketFds, tcpRows } from "./tcp_nodelay.ts";

const SHUT_RDWR = 2;
const LISTEN = "0A";

/** A peer as Deno's `conn.remoteAddr` gives it. */
export interface Peer {
  hostname: string;
  port: number;
}

/** Shuts down this process's sockets with local `port` connected to one of `peers`; returns
 * how many. One read of the kernel's tables and of /proc/self/fd however many peers. */
export function shutdownSockets(port: number, peers: Peer[]): number {
  if (peers.length === 0) return 0;
  const wanted = new Set(peers.map((p) => peerKey(addressBytes(p.hostname), p.port)));
  const inodes = new Set<string>();
  for (const row of tcpRows()) {
    if (row.localPort !== port || row.state === LISTEN) continue;
    if (wanted.has(peerKey(kernelBytes(row.remoteHex), row.remotePort))) inodes.add(row.inode);
  }
  const fds = socketFds(inodes);
  if (fds.length === 0) return 0;
  let done = 0;
  for (const fd of fds) {
    const errno = shutdown(fd, SHUT_RDWR);
    if (errno === 0) done++;
    // ENOTCONN: the peer is gone already, which is what was wanted.
    else if (errno !== 107) throw new Error(`shutdown() of fd ${fd}: ${errorText(errno)}`);
  }
  return done;
}

/** An IPv4 address as its 4 bytes (an IPv4-mapped IPv6 one too), else the 16 of IPv6. */
function peerKey(bytes: number[], port: number): string {
  const v4mapped = bytes.length === 16 && bytes.slice(0, 10).every((b) => b === 0) &&
    bytes[10] === 0xff && bytes[11] === 0xff;
  return `${(v4mapped ? bytes.slice(12) : bytes).join(".")}|${port}`;
}

/** The kernel's hex address: 32-bit words in host (little-endian) order. */
function kernelBytes(hex: string): number[] {
  const out: number[] = [];
  for (let w = 0; w < hex.length; w += 8) {
    for (let b = 6; b >= 0; b -= 2) out.push(parseInt(hex.slice(w + b, w + b + 2), 16));
  }
  return out;
}

/** "10.0.0.1", "::1", "fe80::1", "::ffff:10.0.0.1" as bytes. */
export function addressBytes(host: string): number[] {
  const h = host.replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  if (!h.includes(":")) return h.split(".").map(Number);
  // An embedded dotted quad is two more 16-bit words.
  const text = h.replace(
    /(\d+)\.(\d+)\.(\d+)\.(\d+)$/,
    (_, a, b, c, d) => `${((+a << 8) | +b).toString(16)}:${((+c << 8) | +d).toString(16)}`,
  );
  const [left = "", right] = text.split("::");
  const words = (s: string) => s ? s.split(":").map((x) => parseInt(x, 16)) : [];
  const l = words(left);
  const r = right === undefined ? [] : words(right);
  const all = [...l, ...Array(8 - l.length - r.length).fill(0), ...r];
  return all.flatMap((w) => [w >> 8, w & 0xff]);
}
