/** The shapes of the store's JSON answers that the client reads, checked by plain code: the
 * injector runs this on every container start and probe, and loading zod and building its
 * schemas was part of its start-up (docs/benchmarks.md). Each check takes what JSON.parse
 * gave (or undefined) and returns the typed part, or undefined when the shape is wrong. */

type Obj = Record<string, unknown>;

const isObject = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** An object, null, or undefined when neither (a missing field counts as wrong). */
const nullableObject = (v: unknown): Obj | null | undefined =>
  v === null ? null : isObject(v) ? v : undefined;

/** A list of strings; [] for null or missing; undefined when anything else. */
function stringsOrNone(v: unknown): string[] | undefined {
  if (v === null || v === undefined) return [];
  return Array.isArray(v) && v.every((s) => typeof s === "string") ? v : undefined;
}

const isNonNegativeInteger = (v: unknown): v is number =>
  Number.isSafeInteger(v) && (v as number) >= 0;

/** `auth` of a login answer. */
export function loginAnswer(
  body: unknown,
): { token: string; leaseSeconds: number; renewable: boolean } | undefined {
  const auth = isObject(body) ? body.auth : undefined;
  if (!isObject(auth)) return undefined;
  const { client_token: token, lease_duration: lease, renewable = false } = auth;
  if (typeof token !== "string" || token.length === 0) return undefined;
  if (!isNonNegativeInteger(lease) || typeof renewable !== "boolean") return undefined;
  return { token, leaseSeconds: lease, renewable };
}

/** `data` of a read answer: an object, null (a KV v2 path without data), or undefined when
 * the answer has no such field. */
export function readAnswerData(body: unknown): Obj | null | undefined {
  return isObject(body) ? nullableObject(body.data) : undefined;
}

/** A dynamic secret's lease, as a read or a renewal answers it. */
export interface Lease {
  id: string;
  /** Seconds it runs for, from the time of the answer. */
  leaseSeconds: number;
  renewable: boolean;
}

/** Longer than any lease id a store makes (`<request path>/<24 characters>`, the path at most
 * a few hundred): a longer one, or one with other than printable ASCII, is not an id. */
const MAX_LEASE_ID = 1024;

/** The lease of a read or renewal answer (`lease_id`, `lease_duration`, `renewable` at the
 * top): null when it names none (a KV answer), undefined when the shape is wrong. */
export function leaseAnswer(body: unknown): Lease | null | undefined {
  if (!isObject(body)) return undefined;
  const { lease_id: id, lease_duration: lease, renewable = false } = body;
  if (id === undefined || id === null || id === "") return null;
  if (typeof id !== "string" || id.length > MAX_LEASE_ID || !/^[\x21-\x7e]+$/.test(id)) {
    return undefined;
  }
  if (!isNonNegativeInteger(lease) || typeof renewable !== "boolean") return undefined;
  return { id, leaseSeconds: lease, renewable };
}

/** A KV v2 answer's `data`: `data` (null for a deleted or destroyed version) beside
 * `metadata`; undefined when it is not that shape. */
export function kvV2Data(data: Obj): { data: Obj | null } | undefined {
  const inner = nullableObject(data.data);
  if (inner === undefined || nullableObject(data.metadata) === undefined) return undefined;
  return { data: inner };
}

/** The `errors` and `warnings` of an answer, or undefined when either is not a string list. */
export function errorAnswer(body: unknown): { errors: string[]; warnings: string[] } | undefined {
  if (!isObject(body)) return undefined;
  const errors = stringsOrNone(body.errors);
  const warnings = stringsOrNone(body.warnings);
  return errors && warnings ? { errors, warnings } : undefined;
}

/** The `warnings` of a successful answer; [] when there are none or they are not strings. */
export function answerWarnings(body: unknown): string[] {
  return (isObject(body) ? stringsOrNone(body.warnings) : undefined) ?? [];
}

/** What a KV v2 404 says of the version asked for. */
export interface GoneVersion {
  version: number;
  deletion_time?: string | null | undefined;
  destroyed?: boolean | null | undefined;
}

/** `data.metadata` of a KV v2 404 for a version that is gone, or undefined. */
export function goneVersion(body: unknown): GoneVersion | undefined {
  const data = isObject(body) ? body.data : undefined;
  const m = isObject(data) ? data.metadata : undefined;
  if (!isObject(m) || !Number.isSafeInteger(m.version)) return undefined;
  const { deletion_time, destroyed } = m;
  if (deletion_time != null && typeof deletion_time !== "string") return undefined;
  if (destroyed != null && typeof destroyed !== "boolean") return undefined;
  return { version: m.version as number, deletion_time, destroyed };
}

/** `data` of a sys/internal/ui/mounts answer. */
export function mountAnswer(
  body: unknown,
): { path: string; type: string; options?: Obj | null | undefined } | undefined {
  const data = isObject(body) ? body.data : undefined;
  if (!isObject(data)) return undefined;
  const { path, type, options } = data;
  if (typeof path !== "string" || path.length === 0 || typeof type !== "string") return undefined;
  if (options != null && !isObject(options)) return undefined;
  return { path, type, options };
}
