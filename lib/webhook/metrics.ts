/** Prometheus metrics of the webhook, in the text exposition format. Labels carry outcomes,
 * never names of Pods, images or secrets. */

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export class WebhookMetrics {
  readonly #admissions = new Map<string, number>();
  readonly #lookups = new Map<string, number>();
  readonly #buckets = new Array<number>(BUCKETS.length).fill(0);
  #count = 0;
  #sum = 0;

  /** One answered admission: mutated, skipped, denied or error. */
  admission(outcome: "mutated" | "skipped" | "denied" | "error", seconds: number): void {
    this.#admissions.set(outcome, (this.#admissions.get(outcome) ?? 0) + 1);
    this.#count++;
    this.#sum += seconds;
    BUCKETS.forEach((b, i) => {
      if (seconds <= b) this.#buckets[i]!++;
    });
  }

  /** One image config lookup: from the cache, from the registry, or failed. */
  imageLookup(result: "cached" | "fetched" | "error"): void {
    this.#lookups.set(result, (this.#lookups.get(result) ?? 0) + 1);
  }

  /** The exposition text for GET /metrics. */
  render(): string {
    const lines = [
      "# HELP secrets_store_webhook_admissions_total Pod admissions answered, by outcome.",
      "# TYPE secrets_store_webhook_admissions_total counter",
      ...[...this.#admissions].map(([k, v]) =>
        `secrets_store_webhook_admissions_total{outcome="${k}"} ${v}`
      ),
      "# HELP secrets_store_webhook_admission_duration_seconds Time to answer an admission.",
      "# TYPE secrets_store_webhook_admission_duration_seconds histogram",
      ...BUCKETS.map((b, i) =>
        `secrets_store_webhook_admission_duration_seconds_bucket{le="${b}"} ${this.#buckets[i]}`
      ),
      `secrets_store_webhook_admission_duration_seconds_bucket{le="+Inf"} ${this.#count}`,
      `secrets_store_webhook_admission_duration_seconds_sum ${this.#sum}`,
      `secrets_store_webhook_admission_duration_seconds_count ${this.#count}`,
      "# HELP secrets_store_webhook_image_lookups_total Image entrypoint lookups, by result.",
      "# TYPE secrets_store_webhook_image_lookups_total counter",
      ...[...this.#lookups].map(([k, v]) =>
        `secrets_store_webhook_image_lookups_total{result="${k}"} ${v}`
      ),
    ];
    return lines.join("\n") + "\n";
  }
}
