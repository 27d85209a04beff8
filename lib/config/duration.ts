/** Go-style durations ("10s", "1m30s", "500ms"), the format Kubernetes users write in
 * annotations such as client-timeout. */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds in `text`; a bare number means seconds. Zero is refused however it is
 * written ("0", "0s", "0.0004s"): every duration here bounds a wait, and a zero bound fails
 * at once. Throws a TypeError naming the text. */
export function parseDuration(text: string): number {
  const t = text.trim();
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(t)) {
    ms = Number(t) * 1000;
  } else {
    const parts = [...t.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
    if (parts.length === 0 || parts.map((p) => p[0]).join("") !== t) {
      throw new TypeError(`Cannot parse duration "${text}": expected e.g. 10s, 1m30s or 500ms`);
    }
    ms = parts.reduce((sum, p) => sum + Number(p[1]) * UNIT_MS[p[2]!]!, 0);
  }
  if (Math.round(ms) <= 0) {
    throw new TypeError(`Cannot parse duration "${text}": must be at least 1ms`);
  }
  return Math.round(ms);
}
