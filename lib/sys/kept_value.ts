/** One value read from outside at start and kept up to date in the background: what a role
 * needs that may not exist yet when it starts (Stronghold's CA), and that it must not wait
 * for, since it keeps serving the requests that do not need it. While the value is unknown
 * the reason is kept, for the answers that need it; reads are retried with a bounded
 * backoff. Once known, it is read again now and then, so a replaced value is picked up; a
 * failed re-read keeps the last value. Synchronous to read (`current`), for hot paths. */

/** The value, or why it is not known. */
export type Kept<T> =
  | { readonly known: true; readonly value: T }
  | { readonly known: false; readonly reason: string };

/** setTimeout and clearTimeout; tests pass a clock they advance themselves. */
export interface Timers {
  set(fn: () => void, ms: number): unknown;
  clear(id: unknown): void;
}

export interface KeptValueOptions<T> {
  /** Reads the value; its own deadline bounds each attempt. */
  read: () => Promise<T>;
  /** The first retry's delay; it doubles after each failure, up to `maxRetryMs`. Each delay
   * is jittered down to half, so replicas that failed together do not retry together. */
  firstRetryMs: number;
  maxRetryMs: number;
  /** How long a known value is kept before it is read again. */
  refreshMs: number;
  /** Told of a failed read, once per distinct reason until a read succeeds again; `kept`
   * says whether a last value is still in use. */
  warn: (reason: string, kept: boolean) => void;
  /** Told whenever `current` changes: a value first read or replaced, or a new reason. */
  changed?: (now: Kept<T>) => void;
  /** Whether two reads gave the same value; `===` by default. */
  same?: (a: T, b: T) => boolean;
  timers?: Timers;
  /** In [0, 1); Math.random by default. */
  random?: () => number;
}

/** Distinct reasons remembered for warn-once; beyond it they are forgotten and warned again. */
const MAX_REASONS = 16;

const realTimers: Timers = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
};

export class KeptValue<T> {
  #state: Kept<T> = { known: false, reason: "not read yet" };
  #failures = 0;
  #timer: unknown;
  #closed = false;
  #reading: Promise<void> = Promise.resolve();
  readonly #warned = new Set<string>();
  readonly #timers: Timers;

  constructor(readonly o: KeptValueOptions<T>) {
    for (const k of ["firstRetryMs", "maxRetryMs", "refreshMs"] as const) {
      if (!(o[k] > 0 && Number.isFinite(o[k]))) {
        throw new TypeError(`Invalid ${k} ${o[k]}: must be a positive number of milliseconds`);
      }
    }
    this.#timers = o.timers ?? realTimers;
  }

  /** The first read; resolves once it ended, whatever it gave (never rejects). */
  start(): Promise<void> {
    return this.#read();
  }

  /** The value as last read, or why there is none. */
  get current(): Kept<T> {
    return this.#state;
  }

  /** Resolves once the read in flight, if any, has ended. */
  settled(): Promise<void> {
    return this.#reading;
  }

  /** No more reads: the timer is cleared and a read in flight is ignored when it ends. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) this.#timers.clear(this.#timer);
    this.#timer = undefined;
  }

  #read(): Promise<void> {
    this.#timer = undefined;
    let read: Promise<T>;
    try {
      read = this.o.read();
    } catch (e) {
      read = Promise.reject(e);
    }
    this.#reading = read.then(
      (value) => this.#gotValue(value),
      (e) => this.#gotFailure(e instanceof Error ? e.message : String(e)),
    );
    return this.#reading;
  }

  #gotValue(value: T): void {
    if (this.#closed) return;
    const was = this.#state;
    this.#failures = 0;
    this.#warned.clear();
    const same = this.o.same ?? ((a: T, b: T) => a === b);
    if (!was.known || !same(was.value, value)) this.#set({ known: true, value });
    this.#schedule(this.o.refreshMs);
  }

  #gotFailure(reason: string): void {
    if (this.#closed) return;
    const was = this.#state;
    if (!was.known && was.reason !== reason) this.#set({ known: false, reason });
    if (!this.#warned.has(reason)) {
      if (this.#warned.size >= MAX_REASONS) this.#warned.clear();
      this.#warned.add(reason);
      this.o.warn(reason, was.known);
    }
    // Bounded exponent: the delay stops growing at maxRetryMs long before it matters.
    const ceiling = Math.min(
      this.o.maxRetryMs,
      this.o.firstRetryMs * 2 ** Math.min(this.#failures++, 30),
    );
    this.#schedule(ceiling / 2 + (this.o.random ?? Math.random)() * ceiling / 2);
  }

  #set(state: Kept<T>): void {
    this.#state = state;
    this.o.changed?.(state);
  }

  #schedule(ms: number): void {
    this.#timer = this.#timers.set(() => void this.#read(), Math.round(ms));
  }
}
