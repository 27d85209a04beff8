/** The `host:port` of a `--listen`-style flag, parsed in one place for every server. */

export interface ListenAddress {
  hostname: string;
  port: number;
}

/** `host:port`, `[v6]:port` or `:port` (all interfaces, as 0.0.0.0). `flag` and `example`
 * only make the error say which flag and what a good value looks like. */
export function parseListen(flag: string, listen: string, example?: string): ListenAddress {
  const m = listen.match(/^(.*):(\d+)$/);
  if (!m) {
    const eg = example === undefined ? "" : `, e.g. ${example}`;
    throw new TypeError(`Invalid ${flag} "${listen}": expected host:port${eg}`);
  }
  const port = Number(m[2]);
  if (port > 65535) throw new TypeError(`Invalid ${flag} "${listen}": the port is over 65535`);
  return { hostname: m[1]!.replace(/^\[|\]$/g, "") || "0.0.0.0", port };
}
