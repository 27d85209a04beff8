/** Counters, gauges and histograms in one array of 64-bit integers, and their exposition text.
 * Every label value a family may carry is declared with the family, and a call naming any
 * other value throws: so no label can carry a Pod name, a path or a secret, whatever a caller
 * passes. The one exception is a BoundedLabel, for names an operator chose (a store role):
 * its values are learnt at first use, at most `limit` of them, then one overflow value. The
 * array may be a SharedArrayBuffer that another thread's registry, declared the same way,
 * counts into too (the webhook's --workers). */
import { checkLabelName, checkMetricName, family, header, sample } from "./exposition.ts";

/** The one label of a family and every value it may take. `sparse`: series still at zero
 * are left out of the text, except the first value's (for outcomes rarely seen, so that the
 * text stays short). */
export interface LabelSet<L extends string> {
  name: string;
  values: readonly L[];
  sparse?: boolean;
}

/** A label whose values are not known in advance (names chosen by whoever writes a
 * SecretsStoreImport): the first `limit` distinct values that `accept` takes get a series
 * each, every other value counts under `overflow`, so the series stay bounded whatever
 * callers pass. Series at zero are left out. Only for a registry of one thread: what it learnt
 * is not shared with another thread's. */
export interface BoundedLabel {
  name: string;
  bounded: { limit: number; overflow: string; accept: (value: string) => boolean };
}

/** One label of a family with several: declared values, or a bounded one. */
export type Label = LabelSet<string> | BoundedLabel;

/** The values of one call: a single label's value, or one value per label, in order. */
type Key = string | readonly string[];

/** A label as the families use it: its series by index. */
class Dimension {
  readonly name: string;
  readonly size: number;
  readonly sparse: boolean;
  readonly #declared: readonly string[] | undefined;
  readonly #bounded: BoundedLabel["bounded"] | undefined;
  readonly #learnt: string[] = [];

  constructor(metric: string, label: Label) {
    this.name = checkLabelName(metric, label.name);
    if ("bounded" in label) {
      const b = label.bounded;
      if (!Number.isInteger(b.limit) || b.limit < 1 || b.accept(b.overflow)) {
        throw new TypeError(
          `metric ${metric}: label ${label.name} needs a positive limit and an overflow value it does not accept`,
        );
      }
      this.#bounded = b;
      this.size = b.limit + 1;
      this.sparse = true;
    } else {
      if (new Set(label.values).size !== label.values.length) {
        throw new TypeError(`metric ${metric}: label ${label.name} declares a value twice`);
      }
      this.#declared = label.values;
      this.size = label.values.length;
      this.sparse = label.sparse ?? false;
    }
  }

  /** The index of `value`; throws for a value not declared. */
  index(metric: string, value: string | undefined): number {
    const b = this.#bounded;
    if (b) {
      if (value === undefined) throw new TypeError(`metric ${metric}: ${this.name} is missing`);
      const i = this.#learnt.indexOf(value);
      if (i >= 0) return i;
      if (this.#learnt.length < b.limit && b.accept(value)) return this.#learnt.push(value) - 1;
      return b.limit;
    }
    const i = value === undefined ? -1 : this.#declared!.indexOf(value);
    if (i < 0) {
      throw new TypeError(
        `metric ${metric}: ${this.name} must be one of ${this.#declared!.join(", ")}`,
      );
    }
    return i;
  }

  /** The value at `i`; undefined for a bounded label's index not learnt yet. */
  value(i: number): string | undefined {
    const b = this.#bounded;
    if (!b) return this.#declared![i];
    return i === b.limit ? b.overflow : this.#learnt[i];
  }

  /** A series at zero with this value is still written: a declared label's values unless
   * sparse, and a sparse one's first. */
  shownAtZero(i: number): boolean {
    return !this.#bounded && (!this.sparse || i === 0);
  }

  get bounded(): boolean {
    return this.#bounded !== undefined;
  }
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

abstract class Family<K extends Key> {
  readonly offset: number;
  readonly dims: readonly Dimension[];

  constructor(
    protected readonly memory: Memory,
    readonly name: string,
    readonly help: string,
    by: LabelSet<string> | readonly Label[] | undefined,
    readonly width: number,
  ) {
    checkMetricName(name);
    const labels: readonly Label[] = by === undefined ? [] : "name" in by ? [by] : by;
    this.dims = labels.map((l) => new Dimension(name, l));
    if (new Set(this.dims.map((d) => d.name)).size !== this.dims.length) {
      throw new TypeError(`metric ${name}: a label is declared twice`);
    }
    this.offset = memory.size;
    memory.size += width * this.dims.reduce((n, d) => n * d.size, 1);
  }

  /** The first slot of the series for `at`; throws for a value the family did not declare. */
  protected slot(at: K | undefined): number {
    if (!this.dims.length) {
      if (at !== undefined) throw new TypeError(`metric ${this.name} has no label`);
      return this.offset;
    }
    const values: readonly (string | undefined)[] = typeof at === "object" ? at : [at];
    if (values.length !== this.dims.length) {
      throw new TypeError(
        `metric ${this.name} takes ${this.dims.map((d) => d.name).join(", ")}`,
      );
    }
    let i = 0;
    this.dims.forEach((d, k) => i = i * d.size + d.index(this.name, values[k]));
    return this.offset + i * this.width;
  }

  /** Each series: its labels and first slot; those at zero left out where their labels say
   * so (shownAtZero), and a bounded label's values not learnt yet. */
  protected series(nonZero: (first: number) => boolean): Array<[Array<[string, string]>, number]> {
    const total = this.dims.reduce((n, d) => n * d.size, 1);
    const out: Array<[Array<[string, string]>, number]> = [];
    for (let i = 0; i < total; i++) {
      const labels: Array<[string, string]> = [];
      let rest = i;
      let atZero = true;
      for (let k = this.dims.length - 1; k >= 0; k--) {
        const d = this.dims[k]!;
        const at = rest % d.size;
        rest = Math.floor(rest / d.size);
        const v = d.value(at);
        if (v === undefined) break;
        atZero &&= d.shownAtZero(at);
        labels.unshift([d.name, v]);
      }
      const first = this.offset + i * this.width;
      if (labels.length < this.dims.length || (!atZero && !nonZero(first))) continue;
      out.push([labels, first]);
    }
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

export class Counter<L extends Key> extends Family<L> {
  constructor(
    memory: Memory,
    name: string,
    help: string,
    by?: LabelSet<string> | readonly Label[],
  ) {
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
export class Gauge<L extends Key> extends Family<L> {
  constructor(memory: Memory, name: string, help: string, by?: LabelSet<string>) {
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
export class Histogram<L extends Key> extends Family<L> {
  constructor(
    memory: Memory,
    name: string,
    help: string,
    readonly buckets: readonly number[],
    by?: LabelSet<string> | readonly Label[],
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
  readonly #families: Array<Family<Key>> = [];
  readonly #extra: Array<() => string[]> = [];

  counter<L extends string = never>(name: string, help: string, by?: LabelSet<L>): Counter<L>;
  /** A counter of several labels; `inc()` takes one value per label, in their order. */
  counter(name: string, help: string, by: readonly Label[]): Counter<readonly string[]>;
  counter(name: string, help: string, by?: LabelSet<string> | readonly Label[]): Counter<Key> {
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
    const bounded = this.#families.find((f) => f.dims.some((d) => d.bounded));
    if (shared && bounded) {
      throw new TypeError(`metric ${bounded.name} has a bounded label, which one thread learns`);
    }
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

  #add<F extends Family<Key>>(f: F): F {
    if (this.#families.some((g) => g.name === f.name)) {
      throw new TypeError(`metric ${f.name} declared twice`);
    }
    this.#families.push(f);
    return f;
  }
}
