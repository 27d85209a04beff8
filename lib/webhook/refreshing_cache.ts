/** Values reused for `ttlMs`, then for up to another `ttlMs` while a fresh one loads in the
 * background (stale-while-revalidate). Without the second half, every expiry made all the
 * admissions in flight wait for the same API reads at once, the longest waits of a
 * benchmark run (docs/benchmarks.md). A value is thus at most two TTLs old. */
export class RefreshingCache<V> {
  readonly #entries = new Map<string, Entry<V>>();

  constructor(private readonly ttlMs: number, private readonly now: () => number = Date.now) {}

  /** The value for `key`, calling `load` when there is none young enough. A loaded value is
   * returned as it is, not in a promise, so a caller that finds everything cached can answer
   * without giving up its turn of the event loop. A failed load is not kept: the next call
   * tries again. */
  get(key: string, load: () => Promise<V>): V | Promise<V> {
    const now = this.now();
    const entry = this.#entries.get(key);
    const age = entry ? now - entry.at : Infinity;
    if (entry && age < this.ttlMs) return entry.value;
    if (entry && age < 2 * this.ttlMs) {
      if (!entry.refreshing) {
        entry.refreshing = true;
        load().then(
          (v) => this.#entries.set(key, { at: this.now(), value: v, refreshing: false }),
          () => entry.refreshing = false,
        );
      }
      return entry.value;
    }
    for (const [k, e] of this.#entries) if (now - e.at >= 2 * this.ttlMs) this.#entries.delete(k);
    const value = load();
    const fresh: Entry<V> = { at: now, value, refreshing: false };
    this.#entries.set(key, fresh);
    value.then(
      (v) => fresh.value = v,
      () => {
        if (this.#entries.get(key) === fresh) this.#entries.delete(key);
      },
    );
    return value;
  }
}

interface Entry<V> {
  at: number;
  /** The promise while the first load runs, then its value. */
  value: V | Promise<V>;
  refreshing: boolean;
}
