/** Signs that a Pod wanted something the webhook will not do: an annotation with the
 * product's prefix that is not one of the contract's (a typo such as `env-form-path` would
 * otherwise be ignored without a word), and templates in a Pod without the `role`
 * annotation (nothing resolves them, so the app would see `secrets-store:...` as a value).
 * Neither is a denial: each becomes an AdmissionReview warning, which kubectl prints, and
 * a Warning event. Read from the raw object, before any schema, since a Pod without the role
 * annotation is not parsed otherwise; every shape is tolerated. */
import { TEMPLATE_PREFIX, WRITE_PREFIX } from "../template/template.ts";
import { ANNOTATIONS, INJECTED, PREFIX } from "./annotations.ts";

/** What kind of hint, as the event's reason. */
export type HintReason = "UnknownAnnotation" | "TemplatesWithoutRole";

export interface Hint {
  reason: HintReason;
  message: string;
}

const KNOWN = new Set<string>([...ANNOTATIONS, INJECTED]);
/** A Pod may carry any number of annotations; a warning list is for a human. */
const MAX_NAMED = 5;

/** Annotations under PREFIX that the contract does not define, each with the closest known
 * name when one is near. */
export function unknownAnnotations(annotations: unknown): Hint[] {
  if (!annotations || typeof annotations !== "object") return [];
  const out: Hint[] = [];
  for (const key of Object.keys(annotations)) {
    if (!key.startsWith(PREFIX)) continue;
    const suffix = key.slice(PREFIX.length);
    if (KNOWN.has(suffix)) continue;
    if (out.length === MAX_NAMED) break;
    const near = closest(suffix);
    out.push({
      reason: "UnknownAnnotation",
      message: `annotation ${JSON.stringify(key.slice(0, 120))} is not one of secrets-store's${
        near ? ` (did you mean ${PREFIX}${near}?)` : ""
      }; it is ignored`,
    });
  }
  return out;
}

/** Containers whose literal env holds a template while the Pod has no role annotation. */
export function templatesWithoutRole(spec: unknown): Hint[] {
  const containers = [
    ...list((spec as { initContainers?: unknown })?.initContainers),
    ...list((spec as { containers?: unknown })?.containers),
  ];
  const names: string[] = [];
  for (const c of containers) {
    const env = list((c as { env?: unknown })?.env);
    const templated = env.some((e) => {
      const v = (e as { value?: unknown })?.value;
      return typeof v === "string" && (v.startsWith(TEMPLATE_PREFIX) || v.startsWith(WRITE_PREFIX));
    });
    if (templated) {
      const name = (c as { name?: unknown }).name;
      names.push(typeof name === "string" ? JSON.stringify(name.slice(0, 63)) : "(unnamed)");
    }
  }
  if (names.length === 0) return [];
  const shown = names.slice(0, MAX_NAMED).join(", ") + (names.length > MAX_NAMED ? ", …" : "");
  return [{
    reason: "TemplatesWithoutRole",
    message:
      `container ${shown} has ${TEMPLATE_PREFIX} templates in env, but the Pod has no ${PREFIX}role annotation: nothing is injected and the app sees the templates as they are`,
  }];
}

function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** The known annotation nearest to `name` (edit distance at most 2, or 3 for long names). */
function closest(name: string): string | undefined {
  if (name.length > 64) return undefined;
  let best: string | undefined;
  let bestDistance = name.length > 10 ? 4 : 3;
  for (const known of ANNOTATIONS) {
    const d = distance(name, known);
    if (d < bestDistance) [best, bestDistance] = [known, d];
  }
  return best;
}

/** Damerau-Levenshtein (optimal string alignment): a swap of two letters counts once. */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        v = Math.min(v, d[i - 2]![j - 2]! + 1);
      }
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}
