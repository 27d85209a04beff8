/** Prometheus metrics of the CSI driver. Labels carry outcomes (a gRPC status, a store error
 * kind), never a volume id, a Pod, a path or a secret: each label's values are declared here
 * and lib/metrics refuses any other. */
import { MetricsRegistry } from "../metrics/registry.ts";
import { includeStandard, STORE_CA_KNOWN } from "../metrics/standard.ts";
import type { StoreErrorKind } from "../vault/errors.ts";
import {
  REQUEST_OUTCOMES,
  type RequestOutcome,
  STORE_OPERATIONS,
  type StoreOperation,
} from "../vault/requests.ts";
import { CsiError, status } from "./errors.ts";
import type { StoreOutcome } from "./store_pool.ts";
import type { SweepStats } from "./volumes.ts";

/** Every gRPC status, lowercased as the CSI spec's names are (ok, invalid_argument, ...). */
const CODES: readonly string[] = Object.values(status)
  .filter((v): v is string => typeof v === "string")
  .map((v) => v.toLowerCase());

const STORE_KINDS = [
  "not_found",
  "permission_denied",
  "bad_request",
  "rate_limited",
  "server_error",
  "timeout",
  "tls",
  "unreachable",
  "bad_response",
] as const satisfies readonly StoreErrorKind[];
// Fails to compile when errors.ts gains a kind that is not listed above.
const _everyKind: Record<StoreErrorKind, true> = Object.fromEntries(
  STORE_KINDS.map((k) => [k, true]),
) as { [K in typeof STORE_KINDS[number]]: true };
const STORE_OUTCOMES: readonly StoreOutcome[] = ["ok", ...STORE_KINDS, "other"];

const SWEEPS = ["ok", "partial", "error"] as const;
export type SweepOutcome = typeof SWEEPS[number];

/** At most this many store roles get series of their own (docs/metrics.md); SecretsStoreImport
 * authors choose role names, so the label is bounded, whatever they write. */
export const MAX_ROLES = 64;
/** The role label of every role past MAX_ROLES, and of a name no store accepts as a role. */
export const OTHER_ROLE = "other";
/** The store's own rule for role names (a word character, then word characters, `.`, `@` or
 * `-`), at most 128 characters. */
const ROLE_NAME = /^\w(?:[\w.@-]{0,126}\w)?$/;

/** From 5 ms (a store on the node) to 10 s (the default request timeout). */
const REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];
const CALL_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const SWEEP_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** What the VolumeManager reports (volumes.ts). */
export interface VolumeMetrics {
  /** One NodePublishVolume or NodeUnpublishVolume, with the error it failed with, if any. */
  call(rpc: "publish" | "unpublish", error: unknown, seconds: number): void;
}

export class CsiMetrics implements VolumeMetrics {
  readonly #registry = includeStandard(new MetricsRegistry(), "csi");
  readonly #publish = this.#registry.histogram(
    "secrets_store_csi_publish_duration_seconds",
    "NodePublishVolume calls (the kubelet's republishes included), by gRPC status, and their duration.",
    CALL_BUCKETS,
    { name: "outcome", values: CODES, sparse: true },
  );
  readonly #unpublish = this.#registry.histogram(
    "secrets_store_csi_unpublish_duration_seconds",
    "NodeUnpublishVolume calls, by gRPC status, and their duration.",
    CALL_BUCKETS,
    { name: "outcome", values: CODES, sparse: true },
  );
  readonly #sweeps = this.#registry.histogram(
    "secrets_store_csi_rotation_duration_seconds",
    "Rotation sweeps: ok, partial (some volumes kept their last files) or error, and their duration.",
    SWEEP_BUCKETS,
    { name: "outcome", values: SWEEPS },
  );
  readonly #failed = this.#registry.counter(
    "secrets_store_csi_rotation_failed_volumes_total",
    "Volumes whose rotation failed in a sweep, each kept its last good files.",
  );
  readonly #changed = this.#registry.counter(
    "secrets_store_csi_files_changed_total",
    "Files rewritten, added or removed by rotation.",
  );
  readonly #reads = this.#registry.counter(
    "secrets_store_csi_store_reads_total",
    "Secret reads sent to the store, by outcome (ok or the store error kind).",
    { name: "outcome", values: STORE_OUTCOMES, sparse: true },
  );
  readonly #logins = this.#registry.counter(
    "secrets_store_csi_store_logins_total",
    "Kubernetes-auth logins sent to the store, by outcome (ok or the store error kind).",
    { name: "outcome", values: STORE_OUTCOMES, sparse: true },
  );

  readonly #requests = this.#registry.counter(
    "secrets_store_store_requests_total",
    "Requests sent to the store (each retry, engine lookup and revoke too), by operation, outcome and the store role they were sent for.",
    [
      { name: "operation", values: STORE_OPERATIONS },
      { name: "outcome", values: REQUEST_OUTCOMES, sparse: true },
      {
        // Not "role": build_info's role label names the product's role (webhook, csi).
        name: "store_role",
        bounded: {
          limit: MAX_ROLES,
          overflow: OTHER_ROLE,
          accept: (r) => r !== OTHER_ROLE && ROLE_NAME.test(r),
        },
      },
    ],
  );
  readonly #requestSeconds = this.#registry.histogram(
    "secrets_store_store_request_duration_seconds",
    "Time from sending a store request to its answer (or its failure), by operation.",
    REQUEST_BUCKETS,
    { name: "operation", values: STORE_OPERATIONS },
  );

  /** `sizes` is read at each scrape: the volumes published and the store identities they
   * log in as. */
  constructor(sizes: {
    volumes(): number;
    identities(): number;
    /** The Event recorder's counts (lib/kube/events.ts). */
    events?: () => { dropped: number; failed: number };
    /** Whether the store's CA is known (stronghold_ca.ts); 1 when not given. */
    storeCaKnown?: () => boolean;
  }) {
    this.#registry.collected(
      STORE_CA_KNOWN.name,
      STORE_CA_KNOWN.help,
      () => (sizes.storeCaKnown?.() ?? true) ? 1 : 0,
    );
    this.#registry.collected(
      "secrets_store_csi_volumes",
      "Volumes published on this node.",
      () => sizes.volumes(),
    );
    this.#registry.collected(
      "secrets_store_csi_identities",
      "Distinct store identities (address, auth path, role, ServiceAccount) of the published volumes.",
      () => sizes.identities(),
    );
    const events = sizes.events;
    if (events) {
      this.#registry.collected(
        "secrets_store_csi_events_dropped_total",
        "Kubernetes Events not sent because the queue of events was full.",
        () => events().dropped,
        "counter",
      );
      this.#registry.collected(
        "secrets_store_csi_events_failed_total",
        "Kubernetes Events the API server refused or did not take in time.",
        () => events().failed,
        "counter",
      );
    }
    this.#registry.bind();
  }

  call(rpc: "publish" | "unpublish", error: unknown, seconds: number): void {
    (rpc === "publish" ? this.#publish : this.#unpublish).observe(seconds, outcomeOf(error));
  }

  /** One rotation sweep; `stats` undefined when it threw. */
  sweep(stats: SweepStats | undefined, seconds: number): void {
    const outcome: SweepOutcome = !stats ? "error" : stats.failedVolumes ? "partial" : "ok";
    this.#sweeps.observe(seconds, outcome);
    if (stats) {
      this.#failed.inc(undefined, stats.failedVolumes);
      this.#changed.inc(undefined, stats.changedFiles);
    }
  }

  /** One store request of the StorePool (store_pool.ts). */
  store(operation: "login" | "read", outcome: StoreOutcome): void {
    (operation === "login" ? this.#logins : this.#reads).inc(outcome);
  }

  /** One request sent to the store (store_pool.ts, through the store client). */
  request(operation: StoreOperation, outcome: RequestOutcome, role: string, seconds: number) {
    this.#requests.inc([operation, outcome, role]);
    this.#requestSeconds.observe(seconds, operation);
  }

  /** The exposition text for GET /metrics. */
  render(): string {
    return this.#registry.render();
  }
}

/** The gRPC status a call ended with, as the endpoint answers it (endpoint.ts). */
function outcomeOf(error: unknown): string {
  if (error === undefined) return "ok";
  return CODES[error instanceof CsiError ? error.code : status.INTERNAL] ?? "unknown";
}
