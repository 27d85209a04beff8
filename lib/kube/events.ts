/** Kubernetes Events through the Events API (events.k8s.io/v1), so a user sees with `kubectl
 * describe` or `kubectl events` what the product did to a Pod. Emitting never waits and never
 * throws: an event goes into a small bounded queue that one request at a time drains, each
 * under its own deadline; when the queue is full the event is dropped and counted. A repeat
 * of the same event (same object, type, reason and note) within a window is not a new object
 * but a `series` update of the first one, coalesced so one patch carries any number of
 * repeats. Notes come from the callers, who name files, annotations and error kinds, never a
 * value. */
import { EVENTS, type Named, namespacedCollectionPath, namespacedObjectPath } from "./api_path.ts";
import { type KubeClient, KubeError } from "./client.ts";

/** The object an event is about. `uid` is what `kubectl describe` matches on; without it
 * (a Pod refused at CREATE has none yet) the event is found by name (`kubectl events`). */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string | undefined;
}

export interface EventInput {
  regarding: ObjectRef;
  type: "Normal" | "Warning";
  /** UpperCamelCase, a constant of the product (at most 128 characters). */
  reason: string;
  /** What was being done, e.g. "Rotate" or "Admit" (at most 128 characters). */
  action: string;
  /** For a human; cut to the API server's 1 KiB. Never a secret value. */
  note: string;
}

/** What the roles are given: fire and forget. */
export interface EventSink {
  emit(e: EventInput): void;
}

/** An EventSink that does nothing (events off, or a test that does not look). */
export const NO_EVENTS: EventSink = { emit() {} };

export interface EventRecorderOptions {
  client: Pick<KubeClient, "create" | "mergePatch">;
  /** reportingController: a qualified name, e.g. secrets-store.deckhouse.io/csi. */
  controller: string;
  /** reportingInstance: the node or Pod name (at most 128 characters). */
  instance: string;
  /** Events waiting to be sent; past it new ones are dropped. */
  queueLimit?: number;
  /** Deadline of one request. */
  deadlineMs?: number;
  /** A repeat within this window updates the first event's series. */
  seriesWindowMs?: number;
  /** Distinct events remembered for de-duplication; the oldest is forgotten past it. */
  keysLimit?: number;
  now?: () => number;
  /** Told of failed requests (at most once a minute, with the counts). */
  onError?: (message: string, stats: EventStats) => void;
}

export interface EventStats {
  /** Events created, series updates sent. */
  created: number;
  patched: number;
  /** Repeats folded into a series. */
  repeats: number;
  /** Dropped because the queue was full. */
  dropped: number;
  /** Requests the API server refused or that did not finish in time. */
  failed: number;
}

/** The API server's limits (k8s.io/kubernetes pkg/apis/core/validation/events.go). */
const NOTE_LIMIT = 1024;
const FIELD_LIMIT = 128;

interface Entry {
  namespace: string;
  name: string;
  count: number;
  first: number;
  last: number;
  created: boolean;
  patchQueued: boolean;
}

type Task = { kind: "create"; entry: Entry; body: unknown } | { kind: "patch"; entry: Entry };

export class EventRecorder implements EventSink {
  readonly #o:
    & Required<Omit<EventRecorderOptions, "onError">>
    & Pick<EventRecorderOptions, "onError">;
  readonly #entries = new Map<string, Entry>();
  readonly #queue: Task[] = [];
  #running: Promise<void> | undefined;
  #closed = false;
  #lastErrorLog = -Infinity;
  readonly stats: EventStats = { created: 0, patched: 0, repeats: 0, dropped: 0, failed: 0 };

  constructor(o: EventRecorderOptions) {
    this.#o = {
      queueLimit: 256,
      deadlineMs: 5000,
      seriesWindowMs: 10 * 60_000,
      keysLimit: 4096,
      now: Date.now,
      ...o,
      instance: o.instance.slice(0, FIELD_LIMIT) || "unknown",
    };
  }

  /** Queues `e`; returns at once. */
  emit(e: EventInput): void {
    if (this.#closed) return;
    const now = this.#o.now();
    const key = JSON.stringify([
      e.regarding.namespace,
      e.regarding.kind,
      e.regarding.name,
      e.regarding.uid ?? "",
      e.type,
      e.reason,
      e.note,
    ]);
    const known = this.#entries.get(key);
    if (known && now - known.first < this.#o.seriesWindowMs) {
      known.count++;
      known.last = now;
      this.stats.repeats++;
      // One patch in the queue carries every repeat until it is sent.
      if (known.created && !known.patchQueued) this.#push({ kind: "patch", entry: known });
      return;
    }
    if (known) this.#entries.delete(key);
    let body: unknown;
    let entry: Entry;
    try {
      body = buildEvent(e, {
        controller: this.#o.controller,
        instance: this.#o.instance,
        now,
        suffix: randomSuffix(),
      });
      entry = {
        namespace: e.regarding.namespace,
        name: (body as { metadata: { name: string } }).metadata.name,
        count: 1,
        first: now,
        last: now,
        created: false,
        patchQueued: false,
      };
    } catch (err) {
      this.#failed(`event not built: ${(err as Error).message}`);
      return;
    }
    if (this.#push({ kind: "create", entry, body })) {
      this.#entries.set(key, entry);
      while (this.#entries.size > this.#o.keysLimit) {
        this.#entries.delete(this.#entries.keys().next().value!);
      }
    }
  }

  /** Resolves once everything queued so far was sent or given up on. */
  async settled(): Promise<void> {
    while (this.#running) await this.#running;
  }

  /** Stops taking events and waits for the queue to drain, each request within its deadline. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.settled();
  }

  #push(t: Task): boolean {
    if (this.#queue.length >= this.#o.queueLimit) {
      this.stats.dropped++;
      return false;
    }
    if (t.kind === "patch") t.entry.patchQueued = true;
    this.#queue.push(t);
    this.#running ??= this.#drain().finally(() => (this.#running = undefined));
    return true;
  }

  async #drain(): Promise<void> {
    // One request at a time: events are for people, and must never compete with serving.
    for (let t = this.#queue.shift(); t; t = this.#queue.shift()) {
      const signal = AbortSignal.timeout(this.#o.deadlineMs);
      const path = this.#path(t.entry, t.kind === "patch");
      try {
        if (t.kind === "create") {
          await this.#o.client.create(path, t.body, signal);
          t.entry.created = true;
          this.stats.created++;
          // Repeats that came while it was being created.
          if (t.entry.count > 1 && !t.entry.patchQueued) {
            this.#push({ kind: "patch", entry: t.entry });
          }
        } else {
          t.entry.patchQueued = false;
          await this.#o.client.mergePatch(path, {
            series: { count: t.entry.count, lastObservedTime: microTime(t.entry.last) },
          }, signal);
          this.stats.patched++;
        }
      } catch (e) {
        if (t.kind === "patch" && e instanceof KubeError && e.status === 404) {
          // The event expired (the API server's event TTL): the next repeat starts anew.
          for (const [k, v] of this.#entries) if (v === t.entry) this.#entries.delete(k);
        }
        this.#failed((e as Error).message);
      }
    }
  }

  #path(e: Entry, object: boolean) {
    const namespace: Named = { field: "event namespace", value: e.namespace };
    return object
      ? namespacedObjectPath(EVENTS, namespace, { field: "event name", value: e.name })
      : namespacedCollectionPath(EVENTS, namespace);
  }

  #failed(message: string): void {
    this.stats.failed++;
    const now = this.#o.now();
    if (now - this.#lastErrorLog < 60_000) return;
    this.#lastErrorLog = now;
    this.#o.onError?.(message, { ...this.stats });
  }
}

/** The events.k8s.io/v1 Event for `e`; pure, so its shape is a unit test. */
export function buildEvent(
  e: EventInput,
  o: { controller: string; instance: string; now: number; suffix: string },
): Record<string, unknown> {
  const ref = e.regarding;
  return {
    apiVersion: "events.k8s.io/v1",
    kind: "Event",
    metadata: { name: eventName(ref.name, o.suffix), namespace: ref.namespace },
    eventTime: microTime(o.now),
    reportingController: o.controller,
    reportingInstance: o.instance,
    action: e.action.slice(0, FIELD_LIMIT),
    reason: e.reason.slice(0, FIELD_LIMIT),
    type: e.type,
    note: cutUtf8(e.note, NOTE_LIMIT),
    regarding: {
      apiVersion: ref.apiVersion,
      kind: ref.kind,
      namespace: ref.namespace,
      name: ref.name,
      ...(ref.uid ? { uid: ref.uid } : {}),
    },
  };
}

/** `<object>.<suffix>`, as kubectl names events; a name that is no DNS subdomain part (a
 * generateName ending in "-") is made one. */
export function eventName(objectName: string, suffix: string): string {
  const base = objectName.toLowerCase().replace(/[^a-z0-9.-]/g, "-").slice(0, 200)
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, "").replace(/\.[^a-z0-9]+|[^a-z0-9]+\./g, ".");
  return `${base || "secrets-store"}.${suffix}`;
}

/** RFC 3339 with microseconds, the API's MicroTime (it takes exactly six digits). */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

/** At most `limit` UTF-8 bytes, cut at a character boundary, with "…" when cut. */
export function cutUtf8(text: string, limit: number): string {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length <= limit) return text;
  let end = limit - 3; // room for "…"
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return new TextDecoder().decode(bytes.subarray(0, end)) + "…";
}

function randomSuffix(): string {
  const b = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}
