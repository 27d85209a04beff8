/** A map bounded to `max` entries that forgets the least recently used one first, and whose
 * entries may expire: lookups cache tag -> digest for a short while (tags move) and
 * digest -> config for as long as there is room (digests never change). */
export class LruCache<K, V> {
  readonly #entries = new Map<K, { value: V; expires: number }>();

  constructor(readonly max: number, readonly now: () => number = () => performance.now()) {}

  /** The value, unless absent or expired; marks it as recently used. */
  get(key: K): V | undefined {
    const e = this.#entries.get(key);
    if (!e) return undefined;
    this.#entries.delete(key);
    if (e.expires <= this.now()) return undefined;
    // A Map iterates in insertion order, so re-inserting moves the key to the young end.
    this.#entries.set(key, e);
    return e.value;
  }

  /** Stores `value` for `ttlMs` (forever by default), dropping the oldest entry when full. */
  set(key: K, value: V, ttlMs = Infinity): void {
    this.#entries.delete(key);
    this.#entries.set(key, { value, expires: this.now() + ttlMs });
    if (this.#entries.size > this.max) this.#entries.delete(this.#entries.keys().next().value!);
  }

  get size(): number {
    return this.#entries.size;
  }
}
