/** The one builder of Kubernetes API paths. Every name that goes into a path comes from
 * outside (a Pod spec, a volume context, settings), so each is checked against the rule the
 * API server applies to that kind of name and percent-encoded as a path segment; a name
 * like `../../other-ns/secrets/x` or `a?x=1` is refused here, naming its field, before any
 * request is made. No other file builds an API path (api_path_users_test.ts). */

/** A path made here; KubeClient accepts nothing else. */
export type ApiPath = string & { readonly __apiPath: unique symbol };

/** A name that is not valid where it is used; the message names the field and the value. */
export class KubeNameError extends TypeError {
  override name = "KubeNameError";
  constructor(readonly field: string, readonly value: string, rule: string) {
    super(`${field}: ${quote(value)} is not a valid ${rule}`);
  }
}

// The API server's own rules (k8s.io/apimachinery/pkg/util/validation): IsDNS1123Label for
// namespaces, IsDNS1123Subdomain for object names. The subdomain rule limits only the whole
// name (253), not each dot-separated label: a stricter check here would refuse Secrets that
// exist. Both are compiled once; an admission runs them for each name it will read.
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** True for a DNS-1123 label; lets a hot path check without building a field name. */
export function isNamespace(value: string): boolean {
  return value.length <= 63 && LABEL.test(value);
}

/** True for a DNS-1123 subdomain. */
export function isObjectName(value: string): boolean {
  return value.length <= 253 && SUBDOMAIN.test(value);
}

/** A DNS-1123 label (namespaces): at most 63 of a-z, 0-9 and "-", alphanumeric at both ends. */
export function checkNamespace(field: string, value: string): string {
  if (!isNamespace(value)) {
    throw new KubeNameError(
      field,
      value,
      "namespace name (a DNS-1123 label: at most 63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit)",
    );
  }
  return value;
}

/** A DNS-1123 subdomain (Secrets, ServiceAccounts, custom resources): at most 253
 * characters of a-z, 0-9, "-" and ".", each dot-separated part alphanumeric at both ends. */
export function checkObjectName(field: string, value: string): string {
  if (!isObjectName(value)) {
    throw new KubeNameError(
      field,
      value,
      "object name (a DNS-1123 subdomain: at most 253 characters of a-z, 0-9, '-' and '.', starting and ending with a letter or digit)",
    );
  }
  return value;
}

/** Which collection: `group` is "" for the core API (`/api/v1`). Constants of the product,
 * never user input. */
export interface Resource {
  group: string;
  version: string;
  /** Plural, lower case, e.g. "secrets". */
  plural: string;
}

export const SECRETS: Resource = { group: "", version: "v1", plural: "secrets" };
export const SERVICE_ACCOUNTS: Resource = { group: "", version: "v1", plural: "serviceaccounts" };
export const SERVICES: Resource = { group: "", version: "v1", plural: "services" };
export const MUTATING_WEBHOOK_CONFIGURATIONS: Resource = {
  group: "admissionregistration.k8s.io",
  version: "v1",
  plural: "mutatingwebhookconfigurations",
};
export const CSI_DRIVERS: Resource = {
  group: "storage.k8s.io",
  version: "v1",
  plural: "csidrivers",
};
export const CSI_NODES: Resource = { group: "storage.k8s.io", version: "v1", plural: "csinodes" };
/** The Events API (events.k8s.io/v1), the one the product writes to. */
export const EVENTS: Resource = { group: "events.k8s.io", version: "v1", plural: "events" };

/** A name with the field it came from, so an error can say where the bad name was written. */
export interface Named {
  field: string;
  value: string;
}

/** `/api/v1/namespaces/<ns>/<plural>/<name>` or `/apis/<group>/<version>/namespaces/...`,
 * for one object in a namespace. */
export function namespacedObjectPath(r: Resource, namespace: Named, name: Named): ApiPath {
  const n = checkObjectName(name.field, name.value);
  return `${namespacedCollectionPath(r, namespace)}/${segment(n)}` as ApiPath;
}

/** `/api/v1/namespaces/<ns>/<plural>` or `/apis/<group>/<version>/namespaces/<ns>/<plural>`:
 * the collection a POST creates an object in. */
export function namespacedCollectionPath(r: Resource, namespace: Named): ApiPath {
  const ns = checkNamespace(namespace.field, namespace.value);
  return `${rootOf(r)}/namespaces/${segment(ns)}/${segment(r.plural)}` as ApiPath;
}

/** `/apis/<group>/<version>/<plural>/<name>`, for one cluster-scoped object (CSIDriver,
 * CSINode, MutatingWebhookConfiguration). */
export function clusterObjectPath(r: Resource, name: Named): ApiPath {
  const n = checkObjectName(name.field, name.value);
  return `${rootOf(r)}/${segment(r.plural)}/${segment(n)}` as ApiPath;
}

function rootOf(r: Resource): string {
  return r.group === ""
    ? `/api/${segment(r.version)}`
    : `/apis/${segment(r.group)}/${segment(r.version)}`;
}

/** Percent-encodes one segment. The names are already checked, so this changes nothing
 * today; it stays so a looser rule later cannot open a way out of the segment. */
function segment(s: string): string {
  return encodeURIComponent(s);
}

/** A value as it is shown in an error: JSON-quoted (control characters visible) and cut. */
export function quote(v: string): string {
  return JSON.stringify(v.length > 300 ? v.slice(0, 300) + "…" : v);
}
