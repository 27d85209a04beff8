/** Linux's limits on what execve takes, checked before the call: past them execve fails with
 * "Argument list too long" (E2BIG), which names nothing, and a Pod whose secret grew would
 * crash-loop without saying which one. The kernel's rules (fs/exec.c):
 * - each argument and each `NAME=value` string, with its NUL, is at most MAX_ARG_STRLEN
 *   (32 pages: 131072 bytes);
 * - all strings (the path too) with their NULs, plus a pointer per argument and variable, fit
 *   in a quarter of the stack limit (what sysconf(_SC_ARG_MAX) says), but never more than
 *   6 MiB (3/4 of _STK_LIM) and never less than 128 KiB.
 * Sizes are bytes of UTF-8, as the kernel counts them. */

const enc = new TextEncoder();
const utf8Length = (s: string) => enc.encode(s).length;

/** One string, NUL included. */
export const MAX_ARG_STRLEN = 32 * 4096;
const KERNEL_MAX = 6 * 1024 * 1024;
const KERNEL_MIN = 128 * 1024;
const POINTER = 8;

/** The app cannot be started with this environment; nothing was dropped, or dropping what
 * ignore-missing-secrets allows was not enough. */
export class ExecSizeError extends Error {
  override name = "ExecSizeError";
  readonly exitCode = 1;
}

export interface SizeOptions {
  /** Variables that hold a secret, each with where it came from (never its value); only these
   * may be dropped. */
  secrets: Map<string, string>;
  /** ignore-missing-secrets: drop secret variables that do not fit instead of failing. */
  ignoreMissing: boolean;
  /** sysconf(_SC_ARG_MAX). */
  argMax: number;
}

export interface Dropped {
  variable: string;
  from: string;
  bytes: number;
  why: string;
}

/** The bytes execve may take for argv and envp together. */
export function execLimit(argMax: number): number {
  return Math.max(KERNEL_MIN, Math.min(argMax, KERNEL_MAX));
}

/** The environment that fits, and what was dropped from it; throws ExecSizeError naming each
 * variable and its size when something does not fit and may not be dropped. */
export function fitForExec(
  path: string,
  argv: string[],
  env: Record<string, string>,
  o: SizeOptions,
): { env: Record<string, string>; dropped: Dropped[] } {
  const size = new Map(Object.entries(env).map(([k, v]) => [k, utf8Length(`${k}=${v}`) + 1]));
  argv.forEach((a, i) => {
    const bytes = utf8Length(a) + 1;
    if (bytes > MAX_ARG_STRLEN) {
      throw new ExecSizeError(
        `Cannot start the app: argument ${i} is ${bytes} bytes, over Linux's ${MAX_ARG_STRLEN}-byte limit for one string (MAX_ARG_STRLEN)`,
      );
    }
  });
  const label = (v: string) => {
    const from = o.secrets.get(v);
    return `${v} (${size.get(v)} bytes${from ? `, from ${from}` : ""})`;
  };
  const out = { ...env };
  const dropped: Dropped[] = [];
  const drop = (variable: string, why: string) => {
    dropped.push({ variable, from: o.secrets.get(variable)!, bytes: size.get(variable)!, why });
    delete out[variable];
    size.delete(variable);
  };

  const tooLong = [...size].filter(([, bytes]) => bytes > MAX_ARG_STRLEN).map(([v]) => v);
  const keep = tooLong.filter((v) => !o.ignoreMissing || !o.secrets.has(v));
  if (keep.length > 0) {
    throw new ExecSizeError(
      `Cannot start the app: ${keep.map(label).join(", ")} ${
        keep.length === 1 ? "is" : "are"
      } over Linux's ${MAX_ARG_STRLEN}-byte limit for one variable, NAME=value and its NUL (MAX_ARG_STRLEN)`,
    );
  }
  for (const v of tooLong) drop(v, `over the ${MAX_ARG_STRLEN}-byte limit for one variable`);

  const limit = execLimit(o.argMax);
  const strings = utf8Length(path) + 1 + argv.reduce((n, a) => n + utf8Length(a) + 1, 0);
  const total = () =>
    strings + [...size.values()].reduce((n, b) => n + b, 0) +
    POINTER * (Math.max(argv.length, 1) + size.size);
  if (total() <= limit) return { env: out, dropped };
  const largestSecrets = [...size].filter(([v]) => o.secrets.has(v)).sort((a, b) => b[1] - a[1])
    .map(([v]) => v);
  const over =
    `over the ${limit} bytes execve accepts for arguments and environment (ARG_MAX: a quarter of the stack limit, at most 6 MiB)`;
  if (o.ignoreMissing) {
    for (const v of largestSecrets) {
      if (total() <= limit) break;
      drop(v, `the environment was ${over}`);
    }
    if (total() <= limit) return { env: out, dropped };
  }
  const largest = [...size].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([v]) => v);
  throw new ExecSizeError(
    `Cannot start the app: the arguments and environment take ${total()} bytes (strings, their NULs and a pointer each), ${over}; the largest variables: ${
      largest.map(label).join(", ")
    }`,
  );
}
