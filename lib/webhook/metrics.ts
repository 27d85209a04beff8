/** Prometheus metrics of the webhook, in the text exposition format. Labels carry outcomes,
 * never names of Pods, images or secrets. The counters live in a SharedArrayBuffer, so every
 * serving thread (`--workers`) counts into the same numbers and any of them can answer
 * /metrics with the whole process's totals. */

import { LIMIT_HITS, type LimitHit } from "./server.ts";

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const OUTCOMES = ["mutated", "skipped", "denied", "error"] as const;
const LOOKUPS = ["cached", "fetched", "error"] as const;

// Slots of the shared array: outcomes, lookups, buckets, count, sum (in microseconds, so it
// stays an integer that Atomics can add), limit hits.
const AT_LOOKUPS = OUTCOMES.length;
const AT_BUCKETS = AT_LOOKUPS + LOOKUPS.length;
const AT_COUNT = AT_BUCKETS + BUCKETS.length;
const AT_SUM = AT_COUNT + 1;
const AT_LIMITS = AT_SUM + 1;
const SLOTS = AT_LIMITS + LIMIT_HITS.length;

export class WebhookMetrics {
  readonly #slots: BigInt64Array;

  /** Fresh counters, or the ones another thread created (pass its `shared`). */
  constructor(shared?: SharedArrayBuffer) {
    this.#slots = new BigInt64Array(shared ?? new SharedArrayBuffer(SLOTS * 8));
  }

  /** The memory behind the counters, to hand to another thread. */
  get shared(): SharedArrayBuffer {
    return this.#slots.buffer as SharedArrayBuffer;
  }

  /** One answered admission: mutated, skipped, denied or error. */
  admission(outcome: typeof OUTCOMES[number], seconds: number): void {
    Atomics.add(this.#slots, OUTCOMES.indexOf(outcome), 1n);
    Atomics.add(this.#slots, AT_COUNT, 1n);
    Atomics.add(this.#slots, AT_SUM, BigInt(Math.round(seconds * 1e6)));
    for (let i = 0; i < BUCKETS.length; i++) {
      if (seconds <= BUCKETS[i]!) Atomics.add(this.#slots, AT_BUCKETS + i, 1n);
    }
  }

  /** One image config lookup: from the cache, from the registry, or failed. */
  imageLookup(result: typeof LOOKUPS[number]): void {
    Atomics.add(this.#slots, AT_LOOKUPS + LOOKUPS.indexOf(result), 1n);
  }

  /** One limit of the HTTPS server hit (server.ts): a deadline, the connection cap, the body
   * budget, or a failed accept. */
  limitHit(hit: LimitHit): void {
    Atomics.add(this.#slots, AT_LIMITS + LIMIT_HITS.indexOf(hit), 1n);
  }

  /** The exposition text for GET /metrics. */
  render(): string {
    const at = (i: number) => Atomics.load(this.#slots, i);
    const lines = [
      "# HELP secrets_store_webhook_admissions_total Pod admissions answered, by outcome.",
      "# TYPE secrets_store_webhook_admissions_total counter",
      ...OUTCOMES.map((k, i) => `secrets_store_webhook_admissions_total{outcome="${k}"} ${at(i)}`),
      "# HELP secrets_store_webhook_admission_duration_seconds Time to answer an admission.",
      "# TYPE secrets_store_webhook_admission_duration_seconds histogram",
      ...BUCKETS.map((b, i) =>
        `secrets_store_webhook_admission_duration_seconds_bucket{le="${b}"} ${at(AT_BUCKETS + i)}`
      ),
      `secrets_store_webhook_admission_duration_seconds_bucket{le="+Inf"} ${at(AT_COUNT)}`,
      `secrets_store_webhook_admission_duration_seconds_sum ${Number(at(AT_SUM)) / 1e6}`,
      `secrets_store_webhook_admission_duration_seconds_count ${at(AT_COUNT)}`,
      "# HELP secrets_store_webhook_image_lookups_total Image entrypoint lookups, by result.",
      "# TYPE secrets_store_webhook_image_lookups_total counter",
      ...LOOKUPS.map((k, i) =>
        `secrets_store_webhook_image_lookups_total{result="${k}"} ${at(AT_LOOKUPS + i)}`
      ),
      "# HELP secrets_store_webhook_limit_hits_total Connections closed or requests refused by a limit, and failed accepts.",
      "# TYPE secrets_store_webhook_limit_hits_total counter",
      ...LIMIT_HITS.map((k, i) =>
        `secrets_store_webhook_limit_hits_total{limit="${k}"} ${at(AT_LIMITS + i)}`
      ),
    ];
    return lines.join("\n") + "\n";
  }
}
