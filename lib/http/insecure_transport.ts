/** Transport over node:https with certificate verification off: only for tls-skip-verify,
 * because Deno's fetch cannot switch verification off per client. node:https is loaded when
 * this transport is made, not when the module is: the injector always reaches this module,
 * and loading Node.js's https and what it pulls in was a good part of its start-up. */
import type { Agent } from "node:https";
import { concat } from "./body.ts";
import {
  classify,
  type HttpRequest,
  type HttpResult,
  MAX_BODY,
  type Transport,
  TransportError,
} from "./transport.ts";

type Https = typeof import("node:https");

export class InsecureTransport implements Transport {
  readonly #https: Promise<{ https: Https; agent: Agent }> = import("node:https").then((m) => ({
    https: m.default,
    agent: new m.default.Agent({ keepAlive: true, maxSockets: 32, rejectUnauthorized: false }),
  }));

  async request(
    { method, url, headers, body, timeoutMs, signal }: HttpRequest,
  ): Promise<HttpResult> {
    const { https, agent } = await this.#https;
    return await new Promise((resolve, reject) => {
      let settled = false;
      const fail = (e: TransportError) => {
        if (!settled) (settled = true, clearTimeout(timer), reject(e));
      };
      const req = https.request(url, {
        method,
        agent,
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
    this.#https.then(({ agent }) => agent.destroy(), () => {});
  }
}
