/** Counters, gauges and histograms in one array of 64-bit integers, and their exposition text.
 * Every label value a family may carry is declared with the family, and a call naming any
 * other value throws: so no label can carry a Pod name, a path or a secret, whatever a caller
 * passes. The array may be a SharedArrayBuffer that another thread's registry, declared the
 * same way, counts into too (the webhook's --workers). */
import { checkLabelName, checkMetricName, family, header, sample } from "./exposition.ts";

/** The one label of a family and every value it may take. `sparse`: series still at zero
 * are left out of the text, except the first value's (for outcomes rarely seen, so that the
 * text stays short). */
export interface LabelSet<L extends string> {
  name: string;
  values: readonly L[];
  sparse?: boolean;
}

/** The array behind the families; bound once all are declared. */
class Memory {
  size = 0;
  slots: BigInt64Array | undefined;

  get array(): BigInt64Array {
    if (!this.slots) throw new TypeError("metrics used before MetricsRegistry.bind()");
    return this.slots;
  }
}

abstract class Family<L extends string> {
  readonly offset: number;
  readonly label: string | undefined;

  constructor(
    protected readonly memory: Memory,
    readonly name: string,
    readonly help: string,
    protected readonly by: LabelSet<L> | undefined,
    readonly width: number,
  ) {
    checkMetricName(name);
    this.label = by && checkLabelName(name, by.name);
    if (by && new Set(by.values).size !== by.values.length) {
      throw new TypeError(`metric ${name}: label ${by.name} declares a value twice`);
    }
    this.offset = memory.size;
    memory.size += width * (by?.values.length ?? 1);
  }

  /** The first slot of the series for `at`; throws for a value the family did not declare. */
  protected slot(at: L | undefined): number {
    if (!this.by) {
      if (at !== undefined) throw new TypeError(`metric ${this.name} has no label`);
      return this.offset;
    }
    const i = at === undefined ? -1 : this.by.values.indexOf(at);
    if (i < 0) {
      throw new TypeError(
        `metric ${this.name}: ${this.by.name} must be one of ${this.by.values.join(", ")}`,
      );
    }
    return this.offset + i * this.width;
  }

  /** Each series: its labels and first slot, the sparse ones at zero left out. */
  protected series(shown: (first: number) => boolean): Array<[Array<[string, string]>, number]> {
    if (!this.by) return [[[], this.offset]];
    const out: Array<[Array<[string, string]>, number]> = [];
    this.by.values.forEach((v, i) => {
      const first = this.offset + i * this.width;
      if (this.by!.sparse && i > 0 && !shown(first)) return;
      out.push([[[this.label!, v]], first]);
    });
    return out;
  }

  /** The text of a family of one slot per series. */
  protected renderSlots(type: "counter" | "gauge"): string[] {
    const a = this.memory.array;
    return [
      ...header(this.name, type, this.help),
      ...this.series((i) => Atomics.load(a, i) !== 0n).map(([labels, i]) =>
        sample(this.name, labels, Atomics.load(a, i))
      ),
    ];
  }

  abstract render(): string[];
}

export class Counter<L extends string> extends Family<L> {
  constructor(memory: Memory, name: string, help: string, by?: LabelSet<L>) {
    super(memory, name, help, by, 1);
    if (!name.endsWith("_total")) throw new TypeError(`counter ${name} must end in _total`);
  }

  inc(at?: L, n = 1): void {
    Atomics.add(this.memory.array, this.slot(at), BigInt(n));
  }

  render(): string[] {
    return this.renderSlots("counter");
  }
}

/** A gauge of whole numbers, set by the code that knows the value. */
export class Gauge<L extends string> extends Family<L> {
  constructor(memory: Memory, name: string, help: string, by?: LabelSet<L>) {
    super(memory, name, help, by, 1);
  }

  set(value: number, at?: L): void {
    Atomics.store(this.memory.array, this.slot(at), BigInt(Math.round(value)));
  }

  render(): string[] {
    return this.renderSlots("gauge");
  }
}

/** Slots of one series: a count per bucket, the total count, and the sum in microseconds (an
 * integer, so that Atomics can add it). */
export class Histogram<L extends string> extends Family<L> {
  constructor(
    memory: Memory,
    name: string,
    help: string,
    readonly buckets: readonly number[],
    by?: LabelSet<L>,
  ) {
    super(memory, name, help, by, buckets.length + 2);
    if (!buckets.length || buckets.some((b, i) => !(b > (buckets[i - 1] ?? -Infinity)))) {
      throw new TypeError(`histogram ${name}: buckets must be increasing finite numbers`);
    }
    if (!Number.isFinite(buckets.at(-1)!)) {
      throw new TypeError(`histogram ${name}: +Inf is implied, not declared`);
    }
  }

  /** One observation of `seconds`; Prometheus buckets are cumulative with inclusive bounds. */
  observe(seconds: number, at?: L): void {
    const first = this.slot(at);
    const a = this.memory.array;
    const s = Number.isFinite(seconds) && seconds > 0 ? seconds : 0;
    for (let i = 0; i < this.buckets.length; i++) {
      if (s <= this.buckets[i]!) Atomics.add(a, first + i, 1n);
    }
    Atomics.add(a, first + this.buckets.length, 1n);
    Atomics.add(a, first + this.buckets.length + 1, BigInt(Math.round(s * 1e6)));
  }

  render(): string[] {
    const a = this.memory.array;
    const count = (first: number) => Atomics.load(a, first + this.buckets.length);
    const lines = header(this.name, "histogram", this.help);
    for (const [labels, first] of this.series((i) => count(i) !== 0n)) {
      this.buckets.forEach((b, i) =>
        lines.push(
          sample(`${this.name}_bucket`, [...labels, ["le", String(b)]], Atomics.load(a, first + i)),
        )
      );
      lines.push(sample(`${this.name}_bucket`, [...labels, ["le", "+Inf"]], count(first)));
      const micros = Atomics.load(a, first + this.buckets.length + 1);
      lines.push(sample(`${this.name}_sum`, labels, Number(micros) / 1e6));
      lines.push(sample(`${this.name}_count`, labels, count(first)));
    }
    return lines;
  }
}

/** A value read at each scrape (a size or a count the code already keeps); this thread's
 * only. */
class Collected extends Family<never> {
  constructor(
    memory: Memory,
    name: string,
    help: string,
    readonly read: () => number,
    readonly type: "gauge" | "counter",
  ) {
    super(memory, name, help, undefined, 0);
  }

  render(): string[] {
    return family(this.name, this.type, this.help, [{ value: this.read() }]);
  }
}

export class MetricsRegistry {
  readonly #memory = new Memory();
  readonly #families: Array<Family<string>> = [];
  readonly #extra: Array<() => string[]> = [];

  counter<L extends string = never>(name: string, help: string, by?: LabelSet<L>): Counter<L> {
    return this.#add(new Counter(this.#memory, name, help, by));
  }

  gauge<L extends string = never>(name: string, help: string, by?: LabelSet<L>): Gauge<L> {
    return this.#add(new Gauge(this.#memory, name, help, by));
  }

  histogram<L extends string = never>(
    name: string,
    help: string,
    buckets: readonly number[],
    by?: LabelSet<L>,
  ): Histogram<L> {
    return this.#add(new Histogram(this.#memory, name, help, buckets, by));
  }

  /** A gauge (or a counter another object keeps) whose value `read` gives at each scrape. */
  collected(
    name: string,
    help: string,
    read: () => number,
    type: "gauge" | "counter" = "gauge",
  ): void {
    if (type === "counter" && !name.endsWith("_total")) {
      throw new TypeError(`counter ${name} must end in _total`);
    }
    this.#add(new Collected(this.#memory, name, help, read, type));
  }

  /** Families written by their own code after the declared ones (process and build info);
   * their names must not clash with any other. */
  include(lines: () => string[]): void {
    this.#extra.push(lines);
  }

  /** Makes the array once every family is declared, or takes `shared`, made by a registry
   * declared the same way in another thread. */
  bind(shared?: SharedArrayBuffer): this {
    if (this.#memory.slots) throw new TypeError("MetricsRegistry.bind() called twice");
    const bytes = this.#memory.size * 8;
    if (shared && shared.byteLength !== bytes) {
      throw new TypeError(
        `shared metrics memory has ${shared.byteLength} bytes where this registry needs ${bytes}`,
      );
    }
    this.#memory.slots = new BigInt64Array(shared ?? new SharedArrayBuffer(bytes));
    return this;
  }

  /** The memory behind the counters, to hand to another thread. */
  get shared(): SharedArrayBuffer {
    return this.#memory.array.buffer as SharedArrayBuffer;
  }

  /** The exposition text for GET /metrics. */
  render(): string {
    const lines = this.#families.flatMap((f) => f.render());
    for (const extra of this.#extra) lines.push(...extra());
    return lines.join("\n") + "\n";
  }

  #add<F extends Family<string>>(f: F): F {
    if (this.#families.some((g) => g.name === f.name)) {
      throw new TypeError(`metric ${f.name} declared twice`);
    }
    this.#families.push(f);
    return f;
  }
}
