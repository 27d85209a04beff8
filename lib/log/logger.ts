/** Levelled logging to stderr, as text or JSON lines. Callers pass facts (paths, keys,
 * counts), never secret values: the logger has no way to tell one from the other. */

export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = typeof LOG_LEVELS[number];

export type LogFields = Record<string, string | number | boolean | undefined>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

export interface LoggerOptions {
  level?: LogLevel;
  json?: boolean;
  /** Added to every line, e.g. {component: "inject"}. */
  base?: LogFields;
  /** Where lines go; stderr by default so the app's stdout stays its own. */
  write?: (line: string) => void;
}

const encoder = new TextEncoder();
const toStderr = (line: string) => Deno.stderr.writeSync(encoder.encode(line + "\n"));

/** Parses a level name, accepting the aliases users type ("warning", "trace"). */
export function parseLogLevel(value: string): LogLevel {
  const v = value.trim().toLowerCase();
  if (v === "warning") return "warn";
  if (v === "trace") return "debug";
  if ((LOG_LEVELS as readonly string[]).includes(v)) return v as LogLevel;
  throw new TypeError(
    `Cannot parse log level "${value}": expected one of ${LOG_LEVELS.join(", ")}`,
  );
}

/** Creates a logger; lines below `level` are dropped before they are formatted. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const min = LOG_LEVELS.indexOf(options.level ?? "info");
  const write = options.write ?? toStderr;
  const base = options.base ?? {};
  const emit = (level: LogLevel, msg: string, fields: LogFields = {}) => {
    if (LOG_LEVELS.indexOf(level) < min) return;
    const time = isoNow();
    if (options.json) {
      write(JSON.stringify({ time, level, msg, ...base, ...fields }));
      return;
    }
    // A plain loop: the webhook logs every admission, and this line is on its hot path.
    let line = `${time} ${LABELS[level]} ${msg}`;
    for (const all of [base, fields]) {
      for (const k in all) {
        if (all[k] !== undefined && !(all === base && k in fields)) {
          line += ` ${k}=${formatValue(all[k])}`;
        }
      }
    }
    write(line);
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
  };
}

let lastMs = NaN;
let lastIso = "";

/** The time as ISO 8601, formatted once per millisecond: the webhook logs thousands of lines
 * a second, and a Date and its string for each was a good part of a line's cost. */
function isoNow(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastIso = new Date(now).toISOString();
  }
  return lastIso;
}

const LABELS = Object.fromEntries(LOG_LEVELS.map((l) => [l, l.toUpperCase().padEnd(5)]));

function formatValue(v: string | number | boolean | undefined): string {
  if (typeof v !== "string") return String(v);
  return /^[\w./:@#,-]+$/.test(v) ? v : JSON.stringify(v);
}

/** A logger that drops everything, for library callers that want silence. */
export const silentLogger: Logger = createLogger({ write: () => {} });
