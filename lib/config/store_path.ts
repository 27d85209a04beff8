/** The one type for a path in the store's API (the part after `/v1/`): parsed and checked
 * once where it enters (a template, env-from-path, an annotation, a SecretsStoreImport, the
 * installation settings), and percent-encoded segment by segment when a URL is built
 * (store_url.ts). A branded string, so it prints, compares and serialises (the CSI driver's
 * saved state) as the plain path, while only parseStorePath() can make one. */
declare const brand: unique symbol;

/** A checked store path such as `demo-kv/data/myapp-secret`. */
export type StorePath = string & { readonly [brand]: "StorePath" };

/** Characters a segment may hold. Every real Vault/OpenBao mount, KV path and auth path seen
 * in the guide and in practice is made of ASCII letters, digits and `-_.`; `~@:+=,` are
 * accepted too because some teams name secrets after users (`alice@corp`), hosts (`db:5432`)
 * or key=value pairs. Everything else is refused rather than escaped: `?` and `#` would
 * become a query or a fragment, `%` an encoding that the server (or a proxy in between)
 * decodes into `..` or `/`, `;` a path parameter to some proxies, `\` a separator to others,
 * and whitespace, control characters and non-ASCII letters are never meant and could make
 * two paths look alike in a log. */
const SEGMENT = /^[A-Za-z0-9\-_.~@:+=,]+$/;

/** Far above any real path; bounds the URL, the error message and the audit log line. */
export const MAX_STORE_PATH = 1024;

/** Parses `raw`; throws a TypeError that names the path and the problem, so a caller only
 * adds where the path came from (a variable, an annotation, a field). */
export function parseStorePath(raw: string): StorePath {
  const why = problem(raw);
  if (why) throw new TypeError(`Invalid store path ${quote(raw)}: ${why}`);
  return raw as StorePath;
}

function problem(raw: string): string | undefined {
  if (raw === "") return "it is empty";
  if (raw.length > MAX_STORE_PATH) return `it is longer than ${MAX_STORE_PATH} characters`;
  // A leading "/" (or "/v1/") is refused, not stripped: the contract's paths are what follows
  // /v1/, and a silent rewrite would hide which path is really read. "v1/..." is an ordinary
  // path: a mount may be called v1.
  if (raw.startsWith("/")) {
    return 'it starts with "/" (write the path after /v1/, e.g. demo-kv/data/myapp-secret)';
  }
  if (raw.endsWith("/")) return 'it ends with "/"';
  for (const segment of raw.split("/")) {
    if (segment === "") return 'it holds an empty segment ("//")';
    if (segment === "." || segment === "..") return `segment "${segment}" is not allowed`;
    if (!SEGMENT.test(segment)) {
      const bad = [...segment].find((c) => !SEGMENT.test(c))!;
      return `character ${
        describeChar(bad)
      } is not allowed (only letters, digits and -_.~@:+=, in segments)`;
    }
  }
  return undefined;
}

function describeChar(c: string): string {
  const code = c.codePointAt(0)!;
  const hex = `U+${code.toString(16).toUpperCase().padStart(4, "0")}`;
  return code > 0x20 && code < 0x7f ? JSON.stringify(c) : hex;
}

/** Text from outside quoted for a message or a log line: control characters, NUL and every
 * non-ASCII character escaped (no raw newline, DEL or bidi override reaches a log), and a
 * huge value cut so an error stays one readable line. */
export function quote(raw: string): string {
  const cut = raw.length > 200 ? raw.slice(0, 200) + "..." : raw;
  return JSON.stringify(cut).replace(
    /[^\x20-\x7e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** The path as it goes into a URL: each segment percent-encoded. The allow-list already
 * leaves nothing that could change the URL's structure; encoding anyway means a future change
 * to the list cannot silently turn a character into syntax. */
export function encodeStorePath(p: StorePath): string {
  return p.split("/").map(encodeURIComponent).join("/");
}

/** `auth/<authPath>/login`, the Kubernetes auth method's login endpoint. */
export function loginPath(authPath: StorePath): StorePath {
  return `auth/${authPath}/login` as StorePath;
}

/** `sys/internal/ui/mounts/<path>`: which mount serves `path` and its engine, asked the way the
 * store's own CLI asks before a `kv get`. */
export function mountInfoPath(path: StorePath): StorePath {
  return `sys/internal/ui/mounts/${path}` as StorePath;
}

/** The key of one read, a path at one version (none for the latest), for the maps that read
 * each distinct secret once. A store path never holds "#", so two reads never share a key. */
export function readKey(path: StorePath, version?: number): string {
  return `${path}#${version ?? ""}`;
}
