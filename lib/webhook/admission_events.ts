/** The Events an admission leaves for users: a denial (the annotation or image at fault) and
 * the hints of a Pod that wanted injection but will not get it as written (hints.ts). At
 * CREATE the Pod does not exist yet (no uid, and no name when it has a generateName), so the
 * event is about the Pod's controller when it has one (a ReplicaSet, a Job: `kubectl
 * describe` of it shows the event), else about the Pod by the name it was refused under,
 * in its namespace (`kubectl events --for pod/<name>` shows it; `kubectl describe pod` only
 * shows events that carry a Pod's uid). */
import { isNamespace } from "../kube/api_path.ts";
import type { EventInput, ObjectRef } from "../kube/events.ts";
import type { Hint } from "./hints.ts";

/** Reasons of the webhook's events (docs/troubleshooting.md lists them). */
export const DENIED = "InjectionDenied";

/** What the events are about, from the raw object of the request; undefined when nothing
 * can be named (no namespace from the API server, no name at all). */
export function eventSubject(
  namespace: string | undefined,
  object: unknown,
): ObjectRef | undefined {
  if (!namespace || !isNamespace(namespace)) return undefined;
  const meta = (object as { metadata?: unknown })?.metadata as {
    name?: unknown;
    generateName?: unknown;
    ownerReferences?: unknown;
  } | undefined;
  const owners = Array.isArray(meta?.ownerReferences) ? meta.ownerReferences : [];
  const owner = owners.find((o) => (o as { controller?: unknown })?.controller === true) ??
    owners[0];
  const o = owner as { apiVersion?: unknown; kind?: unknown; name?: unknown; uid?: unknown };
  if (
    typeof o?.apiVersion === "string" && typeof o.kind === "string" &&
    typeof o.name === "string" && o.name !== ""
  ) {
    return {
      apiVersion: o.apiVersion.slice(0, 253),
      kind: o.kind.slice(0, 63),
      namespace,
      name: o.name.slice(0, 253),
      uid: typeof o.uid === "string" ? o.uid.slice(0, 64) : undefined,
    };
  }
  const name = typeof meta?.name === "string" && meta.name
    ? meta.name
    : typeof meta?.generateName === "string" && meta.generateName
    ? meta.generateName
    : undefined;
  if (!name) return undefined;
  return { apiVersion: "v1", kind: "Pod", namespace, name: name.slice(0, 253) };
}

/** The events of one admission: its denial, or its hints. */
export function admissionEvents(
  subject: ObjectRef,
  podName: string,
  denial: string | undefined,
  hints: Hint[],
): EventInput[] {
  // On an owner, the note says which Pod: a ReplicaSet's Pods all have a generateName.
  const about = subject.kind === "Pod" ? "" : `Pod ${podName}: `;
  if (denial !== undefined) {
    return [{
      regarding: subject,
      type: "Warning",
      reason: DENIED,
      action: "Inject",
      note: `${about}${denial}`,
    }];
  }
  return hints.map((h) => ({
    regarding: subject,
    type: "Warning",
    reason: h.reason,
    action: "Inject",
    note: `${about}${h.message}`,
  }));
}

/** The Pod as the log and the notes name it: its name, or at CREATE its generateName and
 * `*` (the API server picks the rest after admission). */
export function podLabel(object: unknown): string {
  const meta = (object as { metadata?: { name?: unknown; generateName?: unknown } })?.metadata;
  if (typeof meta?.name === "string" && meta.name) return meta.name.slice(0, 253);
  if (typeof meta?.generateName === "string" && meta.generateName) {
    return `${meta.generateName.slice(0, 253)}*`;
  }
  return "(no name)";
}
