/** Transport over Deno's native fetch, with a connection pool per store. */
import {
  classify,
  type HttpResult,
  MAX_BODY,
  type Transport,
  TransportError,
} from "./transport.ts";
import { BodyTooLargeError, readLimited } from "./limited_body.ts";

export class FetchTransport implements Transport {
  readonly #client: Deno.HttpClient;

  constructor(caCert?: string) {
    this.#client = Deno.createHttpClient({
      caCerts: caCert ? [caCert] : undefined,
      poolMaxIdlePerHost: 32,
    });
  }

  async request(
    method: string,
    url: URL,
    headers: Record<string, string>,
    body: string | undefined,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<HttpResult> {
    const own = AbortSignal.timeout(timeoutMs);
    const both = signal ? AbortSignal.any([own, signal]) : own;
    try {
      const res = await fetch(url, {
        method,
        headers: body === undefined ? headers : { ...headers, "content-type": "application/json" },
        body,
        client: this.#client,
        signal: both,
        // A redirect is an answer, never followed: fetch would send X-Vault-Token (not a
        // header it strips) to wherever the store, or a proxy posing as it, points.
        redirect: "manual",
      });
      return { status: res.status, body: await readLimited(res, MAX_BODY) };
    } catch (e) {
      if (e instanceof BodyTooLargeError) throw new TransportError("unreachable", e.message);
      if (both.aborted) {
        throw new TransportError(
          "timeout",
          own.aborted ? `no answer within ${timeoutMs} ms` : "deadline for store requests passed",
          e,
        );
      }
      throw classify(e);
    }
  }

  close(): void {
    this.#client.close();
  }
}
