/** The store's address, checked where it enters (installation settings, the `addr`
 * annotation, a SecretsStoreImport, the injector's environment), and the one function that
 * builds every URL sent to the store from (address, path, query). */
import { encodeStorePath, quote, type StorePath } from "./store_path.ts";

/** A checked address: scheme, host and port, and a path prefix kept on every request (a store
 * behind a path-routing proxy, `https://proxy.example/vault`). */
export interface StoreAddress {
  /** `https://host:port`. */
  readonly origin: string;
  /** `""` or `/vault`: never a trailing "/". */
  readonly prefix: string;
  /** Plain http, only when the installation allows it. */
  readonly insecure: boolean;
  /** origin + prefix, how messages and logs name the store. */
  readonly text: string;
}

export interface AddressOptions {
  /** The installation's connection.allowInsecureHttp. */
  allowInsecureHttp: boolean;
}

/** The setting that allows plain http, named in the error that refuses it. */
export const ALLOW_INSECURE_HTTP_SETTING = "connection.allowInsecureHttp";

/** Parses `raw`; throws a TypeError naming the address and the problem, so a caller adds only
 * the setting, annotation or field it came from. */
export function parseStoreAddress(raw: string, o: AddressOptions): StoreAddress {
  const fail = (why: string): never => {
    throw new TypeError(`Invalid store address ${quote(raw)}: ${why}`);
  };
  // "host:port" parses as a URL with the scheme "host:", and "10.0.0.1:8200" does not parse:
  // both get this one message rather than two different ones.
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(raw.trim())) {
    fail("it has no scheme: write https://host[:port][/prefix]");
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return fail("expected https://host[:port][/prefix]");
  }
  if (url.protocol === "http:") {
    if (!o.allowInsecureHttp) {
      fail(
        `plain http would send the ServiceAccount token and the secrets in clear; use https (or allow http for the whole installation with ${ALLOW_INSECURE_HTTP_SETTING}: true)`,
      );
    }
  } else if (url.protocol !== "https:") {
    fail("the scheme must be https");
  }
  // Credentials in the address would be sent to whoever answers and end up in logs; a query
  // or fragment has no meaning for the store and would be dropped or misread by the builder.
  if (url.username || url.password) fail("it must not hold a user name or password");
  if (url.search || raw.includes("?")) fail("it must not hold a query (?...)");
  if (url.hash || raw.includes("#")) fail("it must not hold a fragment (#...)");
  const prefix = url.pathname.replace(/\/+$/, "");
  return {
    origin: url.origin,
    prefix,
    insecure: url.protocol === "http:",
    text: url.origin + prefix,
  };
}

/** The URL of `path` (the API path after /v1/) at `address`, each segment percent-encoded and
 * the query through URLSearchParams: the only place a store URL is made. */
export function storeUrl(address: StoreAddress, path: StorePath, query?: URLSearchParams): URL {
  const url = new URL(`${address.origin}${address.prefix}/v1/${encodeStorePath(path)}`);
  if (query && query.size > 0) url.search = query.toString();
  return url;
}
