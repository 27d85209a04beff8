/** One HTTP exchange with the store over node:https, the only Deno HTTP client that can
 * switch certificate verification off per connection (fetch cannot), which the
 * tls-skip-verify annotation needs. */
import http from "node:http";
import https from "node:https";

export interface TlsOptions {
  /** PEM bundle to trust instead of the system roots. */
  caCert?: string;
  skipVerify?: boolean;
}

export interface HttpResult {
  status: number;
  body: string;
}

/** Why a request got no HTTP answer; mapped to StoreError kinds by the client. */
export class TransportError extends Error {
  override name = "TransportError";
  constructor(readonly kind: "timeout" | "tls" | "unreachable", message: string, cause?: unknown) {
    super(message, { cause });
  }
}

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS|ERR_SSL|HOSTNAME/;
const MAX_BODY = 8 * 1024 * 1024;

/** A connection pool bound to one store's TLS settings. */
export class Transport {
  readonly #agent: http.Agent;
  readonly #secure: boolean;

  constructor(readonly baseUrl: URL, tls: TlsOptions = {}) {
    this.#secure = baseUrl.protocol === "https:";
    this.#agent = this.#secure
      ? new https.Agent({
        keepAlive: true,
        maxSockets: 32,
        ca: tls.caCert,
        rejectUnauthorized: !tls.skipVerify,
      })
      : new http.Agent({ keepAlive: true, maxSockets: 32 });
  }

  /** Sends one request; rejects with TransportError when no HTTP answer arrives in `timeoutMs`. */
  request(
    method: string,
    path: string,
    headers: Record<string, string>,
    body: string | undefined,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<HttpResult> {
    const url = new URL(path, this.baseUrl);
    const mod = this.#secure ? https : http;
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (e: TransportError) => {
        if (!settled) (settled = true, reject(e));
      };
      const req = mod.request(url, {
        method,
        agent: this.#agent,
        headers: body === undefined ? headers : {
          ...headers,
          "content-type": "application/json",
          "content-length": String(new TextEncoder().encode(body).length),
        },
      }, (res) => {
        const chunks: Uint8Array[] = [];
        let size = 0;
        res.on("data", (c: Uint8Array) => {
          size += c.length;
          if (size > MAX_BODY) {
            req.destroy();
            fail(new TransportError("unreachable", `answer larger than ${MAX_BODY} bytes`));
          } else chunks.push(c);
        });
        res.on("end", () => {
          clearTimeout(timer);
          if (settled) return;
          settled = true;
          const all = new Uint8Array(size);
          let off = 0;
          for (const c of chunks) (all.set(c, off), off += c.length);
          resolve({ status: res.statusCode ?? 0, body: new TextDecoder().decode(all) });
        });
        res.on("error", (e) => fail(classify(e)));
      });
      const timer = setTimeout(() => {
        fail(new TransportError("timeout", `no answer within ${timeoutMs} ms`));
        req.destroy();
      }, timeoutMs);
      const onAbort = () => {
        clearTimeout(timer);
        fail(new TransportError("timeout", "deadline for store requests passed"));
        req.destroy();
      };
      if (signal?.aborted) onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
      req.on("error", (e) => {
        clearTimeout(timer);
        fail(classify(e));
      });
      req.on("close", () => signal?.removeEventListener("abort", onAbort));
      if (body !== undefined) req.write(body);
      req.end();
    });
  }

  /** Closes idle pooled connections so a process can exit promptly. */
  close(): void {
    this.#agent.destroy();
  }
}

function classify(e: unknown): TransportError {
  const code = String((e as { code?: unknown })?.code ?? "");
  const msg = e instanceof Error ? e.message : String(e);
  if (TLS_CODES.test(code) || /certificate|tls|ssl/i.test(msg)) {
    return new TransportError("tls", `TLS verification failed (${code || msg})`, e);
  }
  return new TransportError("unreachable", `${code || "connection failed"}: ${msg}`, e);
}
