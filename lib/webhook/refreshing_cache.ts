/** Values reused for `ttlMs`, then for up to another `ttlMs` while a fresh one loads in the
 * background (stale-while-revalidate). Without the second half, every expiry made all the
 * admissions in flight wait for the same API reads at once, the longest waits of a
 * benchmark run (docs/benchmarks.md). A value is thus at most two TTLs old. */
export class RefreshingCache<V> {
  readonly #entries = new Map<string, { at: number; value: Promise<V>; refreshing: boolean }>();

  constructor(private readonly ttlMs: number, private readonly now: () => number = Date.now) {}

  /** The value for `key`, calling `load` when there is none young enough. A failed load is
   * not kept: the next call tries again. */
  get(key: string, load: () => Promise<V>): Promise<V> {
    const now = this.now();
    const entry = this.#entries.get(key);
    const age = entry ? now - entry.at : Infinity;
    if (entry && age < this.ttlMs) return entry.value;
    if (entry && age < 2 * this.ttlMs) {
      if (!entry.refreshing) {
        entry.refreshing = true;
        load().then(
          (v) =>
            this.#entries.set(key, {
              at: this.now(),
              value: Promise.resolve(v),
              refreshing: false,
            }),
          () => entry.refreshing = false,
        );
      }
      return entry.value;
    }
    for (const [k, e] of this.#entries) if (now - e.at >= 2 * this.ttlMs) this.#entries.delete(k);
    const value = load();
    this.#entries.set(key, { at: now, value, refreshing: false });
    value.catch(() => {
      if (this.#entries.get(key)?.value === value) this.#entries.delete(key);
    });
    return value;
  }
}
