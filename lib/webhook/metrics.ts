/** Prometheus metrics of the webhook. Labels carry outcomes, never names of Pods, images or
 * secrets (each label's values are declared below, and lib/metrics refuses any other). The
 * counters live in a SharedArrayBuffer, so every serving thread (`--workers`) counts into the
 * same numbers and any of them can answer /metrics with the whole process's totals. */
import { MetricsRegistry } from "../metrics/registry.ts";
import { includeStandard, STORE_CA_KNOWN } from "../metrics/standard.ts";
import { LIMIT_HITS, type LimitHit } from "./server.ts";

const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const OUTCOMES = ["mutated", "skipped", "denied", "error"] as const;
const LOOKUPS = ["cached", "fetched", "error"] as const;

export class WebhookMetrics {
  readonly #registry = includeStandard(new MetricsRegistry(), "webhook");
  readonly #admissions = this.#registry.counter(
    "secrets_store_webhook_admissions_total",
    "Pod admissions answered, by outcome.",
    { name: "outcome", values: OUTCOMES },
  );
  readonly #duration = this.#registry.histogram(
    "secrets_store_webhook_admission_duration_seconds",
    "Time to answer an admission.",
    BUCKETS,
  );
  readonly #lookups = this.#registry.counter(
    "secrets_store_webhook_image_lookups_total",
    "Image entrypoint lookups, by result.",
    { name: "result", values: LOOKUPS },
  );
  readonly #limits = this.#registry.counter(
    "secrets_store_webhook_limit_hits_total",
    "Connections closed or requests refused by a limit, and failed accepts.",
    { name: "limit", values: LIMIT_HITS },
  );

  readonly #caKnown = this.#registry.gauge(STORE_CA_KNOWN.name, STORE_CA_KNOWN.help);

  /** Fresh counters, or the ones another thread created (pass its `shared`). */
  constructor(shared?: SharedArrayBuffer) {
    this.#registry.bind(shared);
  }

  /** The memory behind the counters, to hand to another thread. */
  get shared(): SharedArrayBuffer {
    return this.#registry.shared;
  }

  /** One answered admission: mutated, skipped, denied or error. */
  admission(outcome: typeof OUTCOMES[number], seconds: number): void {
    this.#admissions.inc(outcome);
    this.#duration.observe(seconds);
  }

  /** One image config lookup: from the cache, from the registry, or failed. */
  imageLookup(result: typeof LOOKUPS[number]): void {
    this.#lookups.inc(result);
  }

  /** One limit of the HTTPS server hit (server.ts): a deadline, the connection cap, the body
   * budget, or a failed accept. */
  limitHit(hit: LimitHit): void {
    this.#limits.inc(hit);
  }

  /** Whether the store's CA is known (stronghold_ca.ts). */
  storeCaKnown(known: boolean): void {
    this.#caKnown.set(known ? 1 : 0);
  }

  /** The exposition text for GET /metrics. */
  render(): string {
    return this.#registry.render();
  }
}
