/** The one stale-while-revalidate cache: a value is reused for `ttlMs`, then for up to another
 * `ttlMs` while a fresh one loads in the background. Without the second half, every expiry
 * made all the callers in flight wait for the same reads at once (the webhook's pull secrets,
 * a registry's tags: docs/benchmarks.md). A value is thus at most two TTLs old, counted from
 * when its load began. Bounded in entries and in bytes: the least recently used entry goes
 * first, and a value past two TTLs is let go when another key loads. */

export interface RefreshingCacheOptions<V> {
  /** How long a value is used as it is; Infinity for values that never go stale (content
   * addressed). Zero keeps nothing, but callers in flight still share one load. */
  ttlMs: number;
  /** Entries kept at most. */
  maxEntries: number;
  /** Bytes kept at most, as `sizeOf` counts them; a larger value is returned, not kept. */
  maxBytes?: number;
  /** What a value costs against `maxBytes`; counted once, when it is stored. */
  sizeOf?: (value: V) => number;
  /** Milliseconds on a clock that never goes back; tests drive their own. */
  now?: () => number;
}

export class RefreshingCache<V> {
  /** In order of use, least recent first: a Map iterates in insertion order. */
  readonly #entries = new Map<string, Entry<V>>();
  /** Every load in flight, for settled(). */
  readonly #loads = new Set<Promise<unknown>>();
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #maxBytes: number;
  readonly #sizeOf: (value: V) => number;
  readonly #now: () => number;
  #bytes = 0;

  constructor(o: RefreshingCacheOptions<V>) {
    if (!(o.ttlMs >= 0)) throw new TypeError(`Invalid ttlMs ${o.ttlMs}: must be >= 0`);
    if (!(Number.isInteger(o.maxEntries) && o.maxEntries > 0)) {
      throw new TypeError(`Invalid maxEntries ${o.maxEntries}: must be an integer > 0`);
    }
    if (!((o.maxBytes ?? Infinity) > 0)) {
      throw new TypeError(`Invalid maxBytes ${o.maxBytes}: must be > 0`);
    }
    this.#ttlMs = o.ttlMs;
    this.#maxEntries = o.maxEntries;
    this.#maxBytes = o.maxBytes ?? Infinity;
    this.#sizeOf = o.sizeOf ?? (() => 0);
    this.#now = o.now ?? (() => performance.now());
  }

  /** The value for `key`, calling `load` when there is none young enough. A loaded value is
   * returned as it is, not in a promise, so a caller that finds everything cached can answer
   * without giving up its turn of the event loop. Callers that find a load in flight share
   * it. A failed load is not kept: the next call tries again; a failed refresh keeps the old
   * value. */
  get(key: string, load: () => Promise<V>): V | Promise<V> {
    const now = this.#now();
    const entry = this.#entries.get(key);
    if (entry?.loaded) {
      const hit = this.#use(key, entry, now, load);
      if (hit) return hit.value as V;
    }
    // A first load, or a refresh that outlived the old value's two TTLs.
    if (entry?.loading) return entry.loading;
    for (const [k, e] of this.#entries) {
      if (!e.loading && now - e.at >= 2 * this.#ttlMs) this.#delete(k, e);
    }
    return this.#firstLoad(key, load, now);
  }

  /** What get() would answer without waiting: the value when one is young enough (starting
   * its refresh in the background when `load` is given and it is stale), else undefined.
   * Never starts a first load. */
  peek(key: string, load?: () => Promise<V>): V | undefined {
    const entry = this.#entries.get(key);
    if (!entry?.loaded) return undefined;
    return this.#use(key, entry, this.#now(), load)?.value;
  }

  /** Stores `value` as loaded now, in place of any entry for `key`. */
  set(key: string, value: V): void {
    const old = this.#entries.get(key);
    if (old) this.#delete(key, old);
    const entry: Entry<V> = { at: this.#now(), loaded: false, value: undefined, bytes: 0 };
    this.#entries.set(key, entry);
    this.#fill(key, entry, value);
  }

  /** Resolves once no load is in flight, those started meanwhile included; never rejects.
   * A test awaits a background refresh with it instead of sleeping. */
  async settled(): Promise<void> {
    while (this.#loads.size > 0) await Promise.allSettled([...this.#loads]);
  }

  get size(): number {
    return this.#entries.size;
  }

  /** Bytes of the values kept, as `sizeOf` counts them. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The entry when its value is young enough, marked as recently used, with its refresh
   * started when stale. */
  #use(
    key: string,
    entry: Entry<V>,
    now: number,
    load: (() => Promise<V>) | undefined,
  ): Entry<V> | undefined {
    const age = now - entry.at;
    if (!(age < 2 * this.#ttlMs)) return undefined;
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    if (age >= this.#ttlMs && load && !entry.loading) this.#refresh(key, entry, load, now);
    return entry;
  }

  #firstLoad(key: string, load: () => Promise<V>, now: number): Promise<V> {
    const loading = this.#track(load());
    const entry: Entry<V> = { at: now, loaded: false, value: undefined, bytes: 0, loading };
    this.#entries.set(key, entry);
    this.#bound();
    loading.then(
      (v) => {
        if (this.#entries.get(key) !== entry) return; // evicted or replaced meanwhile
        entry.loading = undefined;
        this.#fill(key, entry, v);
      },
      () => {
        if (this.#entries.get(key) === entry) this.#delete(key, entry);
      },
    );
    return loading;
  }

  #refresh(key: string, entry: Entry<V>, load: () => Promise<V>, now: number): void {
    const loading = this.#track(load());
    entry.loading = loading;
    loading.then(
      (v) => {
        entry.loading = undefined;
        if (this.#entries.get(key) !== entry) return; // evicted or replaced meanwhile
        entry.at = now;
        this.#fill(key, entry, v);
      },
      () => entry.loading = undefined,
    );
  }

  /** Gives `entry` its loaded value in place of any before, or lets it go when the value
   * alone is over maxBytes. */
  #fill(key: string, entry: Entry<V>, value: V): void {
    this.#bytes -= entry.bytes;
    entry.bytes = 0;
    const bytes = this.#sizeOf(value);
    if (bytes > this.#maxBytes) {
      this.#delete(key, entry);
      return;
    }
    entry.value = value;
    entry.loaded = true;
    entry.bytes = bytes;
    this.#bytes += bytes;
    this.#bound();
  }

  /** Lets the least recently used entries go until both bounds hold. */
  #bound(): void {
    while (this.#entries.size > this.#maxEntries || this.#bytes > this.#maxBytes) {
      const [k, e] = this.#entries.entries().next().value!;
      this.#delete(k, e);
    }
  }

  #delete(key: string, entry: Entry<V>): void {
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
    entry.bytes = 0;
  }

  #track(loading: Promise<V>): Promise<V> {
    this.#loads.add(loading);
    const done = () => this.#loads.delete(loading);
    loading.then(done, done);
    return loading;
  }
}

interface Entry<V> {
  /** When the load of the value began (the cache's clock). */
  at: number;
  loaded: boolean;
  value: V | undefined;
  /** What `value` counts against maxBytes (0 until loaded). */
  bytes: number;
  /** The load in flight: the first one, or a refresh behind a stale value. */
  loading?: Promise<V> | undefined;
}
