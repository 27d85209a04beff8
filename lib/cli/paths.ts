/** The file-system paths and socket endpoints given on the command line, checked before a
 * role starts: a relative path would depend on the working folder, and an endpoint like
 * `tcp://host:port` was once taken as a folder named `tcp:`. */

/** An absolute, normalised path: no empty, `.` or `..` segment, no trailing `/`, no control
 * character. `flag` and `given` (the flag's whole value) only make the error say which. */
export function checkAbsolutePath(flag: string, value: string, given = value): string {
  const bad = (why: string) => new TypeError(`Invalid ${flag} ${JSON.stringify(given)}: ${why}`);
  if (!value.startsWith("/")) throw bad("expected an absolute path (starting with /)");
  // deno-lint-ignore no-control-regex
  if (/[\x00-\x1f\x7f]/.test(value)) throw bad("it holds a control character");
  if (value !== "/") {
    const segments = value.slice(1).split("/");
    if (segments.some((s) => s === "" || s === "." || s === "..")) {
      throw bad("expected a normalised path (no //, . or .. segment, no trailing /)");
    }
  }
  return value;
}

/** Linux's sun_path holds 108 bytes with the final NUL. */
export const MAX_SOCKET_PATH_BYTES = 107;

/** A unix socket endpoint: `unix:///abs/path` or a plain absolute path; returns the path.
 * Any other scheme (tcp://, http://) is refused: the CSI socket is a unix socket only. */
export function parseUnixEndpoint(flag: string, value: string): string {
  const scheme = value.match(/^([a-zA-Z][a-zA-Z0-9+.-]*):/)?.[1];
  let path = value;
  if (scheme !== undefined) {
    if (scheme !== "unix") {
      throw new TypeError(
        `Invalid ${flag} ${
          JSON.stringify(value)
        }: only unix sockets are served; write unix:///path/to/csi.sock or an absolute path`,
      );
    }
    if (!value.startsWith("unix://")) {
      throw new TypeError(
        `Invalid ${flag} ${JSON.stringify(value)}: write unix:///path/to/csi.sock`,
      );
    }
    path = value.slice("unix://".length);
  }
  checkAbsolutePath(flag, path, value);
  const bytes = new TextEncoder().encode(path).length;
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new TypeError(
      `Invalid ${flag} ${
        JSON.stringify(value)
      }: the socket path is ${bytes} bytes; a unix socket allows ${MAX_SOCKET_PATH_BYTES}`,
    );
  }
  return path;
}
