/** Transport over node:https with certificate verification off: only for tls-skip-verify,
 * because Deno's fetch cannot switch verification off per client. */
import https from "node:https";
import { concat } from "./body.ts";
import {
  classify,
  type HttpRequest,
  type HttpResult,
  MAX_BODY,
  type Transport,
  TransportError,
} from "./transport.ts";

export class InsecureTransport implements Transport {
  readonly #agent = new https.Agent({ keepAlive: true, maxSockets: 32, rejectUnauthorized: false });

  request({ method, url, headers, body, timeoutMs, signal }: HttpRequest): Promise<HttpResult> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (e: TransportError) => {
        if (!settled) (settled = true, clearTimeout(timer), reject(e));
      };
      const req = https.request(url, {
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
            fail(new TransportError("unreachable", `answer larger than ${MAX_BODY} bytes`));
            req.destroy();
          } else chunks.push(c);
        });
        res.on("end", () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({
            status: res.statusCode ?? 0,
            body: new TextDecoder().decode(concat(chunks, size)),
          });
        });
        res.on("error", (e) => fail(classify(e)));
      });
      const timer = setTimeout(() => {
        fail(new TransportError("timeout", `no answer within ${timeoutMs} ms`));
        req.destroy();
      }, timeoutMs);
      const onAbort = () => {
        fail(new TransportError("timeout", "deadline for store requests passed"));
        req.destroy();
      };
      if (signal?.aborted) onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
      req.on("close", () => signal?.removeEventListener("abort", onAbort));
      req.on("error", (e) => fail(classify(e)));
      if (body !== undefined) req.write(body);
      req.end();
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}
