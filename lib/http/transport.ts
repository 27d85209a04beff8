/** One HTTP exchange with the store. Verified TLS goes through Deno's native fetch (faster to
 * first byte in a fresh process than node:https, which matters for the injector's start-up;
 * docs/benchmarks.md); node:https is used only when verification is switched off, since
 * fetch has no per-client way to do that. */
import { FetchTransport } from "./fetch_transport.ts";
import { InsecureTransport } from "./insecure_transport.ts";
import type { StoreAddress } from "../config/store_address.ts";

export interface TlsOptions {
  /** PEM bundle to trust in addition to the system roots. */
  caCert?: string | undefined;
  skipVerify?: boolean;
}

export interface HttpResult {
  status: number;
  body: string;
}

/** One request to the store. */
export interface HttpRequest {
  method: string;
  /** Made by storeUrl(), never joined here, so an address prefix survives. */
  url: URL;
  headers: Record<string, string>;
  /** JSON text; sent with `content-type: application/json`. */
  body?: string | undefined;
  /** The deadline for this one exchange, answer body included. */
  timeoutMs: number;
  /** The caller's own deadline (all retries together). */
  signal?: AbortSignal | undefined;
}

export interface Transport {
  /** Sends one request; rejects with TransportError when no HTTP answer arrives in time. */
  request(req: HttpRequest): Promise<HttpResult>;
  /** Closes pooled connections so a process can exit promptly. */
  close(): void;
}

/** Why a request got no HTTP answer; mapped to StoreError kinds by the client. */
export class TransportError extends Error {
  override name = "TransportError";
  constructor(
    readonly kind: "timeout" | "tls" | "unreachable",
    message: string,
    cause?: unknown,
    /** True only when the request certainly never left: the connection was not made (refused,
     * no route, the name not resolved). A caller that must not repeat a request the store may
     * have applied (a write) retries only these. */
    readonly notSent = false,
  ) {
    super(message, { cause });
  }
}

/** Answers larger than this are refused: no store answer we read comes close. */
export const MAX_BODY = 8 * 1024 * 1024;

/** A pooled transport for one store address and its TLS settings. */
export function createTransport(address: StoreAddress, tls: TlsOptions = {}): Transport {
  return tls.skipVerify && !address.insecure
    ? new InsecureTransport()
    : new FetchTransport(tls.caCert);
}

const TLS_WORDS =
  /certificate|CERT_|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS|ERR_SSL|tls|ssl|UnknownIssuer|handshake/i;

/** Maps a low-level failure (fetch's or node's) to a TransportError. */
export function classify(e: unknown): TransportError {
  const cause = (e as { cause?: unknown })?.cause;
  const code = String((e as { code?: unknown })?.code ?? "");
  const msg = [
    e instanceof Error ? e.message : String(e),
    cause instanceof Error ? cause.message : "",
  ]
    .filter((m) => m).join(": ");
  // Failing before the request is written: fetch (hyper) says "(Connect)", node a connect code.
  const notSent = msg.includes("(Connect)") || CONNECT_CODES.has(code);
  if (TLS_WORDS.test(code) || TLS_WORDS.test(msg)) {
    return new TransportError(
      "tls",
      `TLS verification failed (${code || lastPart(msg)})`,
      e,
      notSent,
    );
  }
  return new TransportError(
    "unreachable",
    code ? `${code}: ${lastPart(msg)}` : lastPart(msg),
    e,
    notSent,
  );
}

/** node's codes for a connection that was never made. */
const CONNECT_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EADDRNOTAVAIL",
]);

/** The most specific part of a nested error text, e.g. "invalid peer certificate: UnknownIssuer". */
function lastPart(msg: string): string {
  const m = msg.match(/\((?:Connect|SendRequest)\): (.*)$/);
  return m?.[1] ?? msg;
}
