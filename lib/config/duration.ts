/** Go-style durations ("10s", "1m30s", "500ms"), the format Kubernetes users write in
 * annotations such as client-timeout. */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds in `text`; a bare number means seconds. Throws a TypeError naming the text. */
export function parseDuration(text: string): number {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
  const parts = [...t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== t) {
    throw new TypeError(`Cannot parse duration "${text}": expected e.g. 10s, 1m30s or 500ms`);
  }
  const ms = parts.reduce((sum, p) => sum + Number(p[1]) * UNIT_MS[p[2]!]!, 0);
  if (ms <= 0) throw new TypeError(`Cannot parse duration "${text}": must be greater than zero`);
  return Math.round(ms);
}
