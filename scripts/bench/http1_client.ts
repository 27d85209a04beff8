/** A minimal keep-alive HTTP/1.1 client over TLS with TCP_NODELAY, sending each request in
 * one write as the kube-apiserver's Go client does. Deno's fetch writes headers and body
 * separately without TCP_NODELAY, and Nagle's algorithm with delayed ACKs then adds ~40 ms to
 * every POST, which would measure the benchmark's client instead of the webhook. */

const enc = new TextEncoder();
const dec = new TextDecoder();

export class Http1Connection {
  #buf = new Uint8Array(0);
  private constructor(readonly conn: Deno.TlsConn, readonly host: string) {}

  /** Opens one TLS connection to `url`'s host, trusting `caCert`. */
  static async open(url: string, caCert: string): Promise<Http1Connection> {
    const u = new URL(url);
    const tcp = await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
    tcp.setNoDelay(true);
    const conn = await Deno.startTls(tcp, { hostname: u.hostname, caCerts: [caCert] });
    return new Http1Connection(conn, u.host);
  }

  /** POSTs `body` to `path`; resolves to the status and body text. */
  async post(path: string, body: string): Promise<{ status: number; body: string }> {
    const bytes = enc.encode(body);
    const head = enc.encode(
      `POST ${path} HTTP/1.1\r\nHost: ${this.host}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${bytes.length}\r\n\r\n`,
    );
    const req = new Uint8Array(head.length + bytes.length);
    req.set(head);
    req.set(bytes, head.length);
    for (let off = 0; off < req.length;) off += await this.conn.write(req.subarray(off));
    const headEnd = await this.#until((b) => indexOf(b, enc.encode("\r\n\r\n")));
    const headers = dec.decode(this.#take(headEnd + 4));
    const status = Number(headers.slice(9, 12));
    const length = Number(headers.match(/content-length:\s*(\d+)/i)?.[1] ?? 0);
    await this.#until((b) => (b.length >= length ? length : -1));
    return { status, body: dec.decode(this.#take(length)) };
  }

  close(): void {
    this.conn.close();
  }

  async #until(found: (b: Uint8Array) => number): Promise<number> {
    for (;;) {
      const at = found(this.#buf);
      if (at >= 0) return at;
      const chunk = new Uint8Array(64 * 1024);
      const n = await this.conn.read(chunk);
      if (n === null) throw new Error("connection closed");
      const next = new Uint8Array(this.#buf.length + n);
      next.set(this.#buf);
      next.set(chunk.subarray(0, n), this.#buf.length);
      this.#buf = next;
    }
  }

  #take(n: number): Uint8Array {
    const out = this.#buf.slice(0, n);
    this.#buf = this.#buf.slice(n);
    return out;
  }
}

function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
