/** Where an error a user sees is explained: each error class has its anchor in
 * docs/troubleshooting.md, and the messages of denials, CSI mount failures and injector
 * failures end with it. A docs path, not a URL: it holds for every copy of the docs. */

export const TROUBLESHOOTING = "docs/troubleshooting.md";

/** The anchors of docs/troubleshooting.md; tests check each exists there. */
export type Anchor =
  | "webhook-denied"
  | "webhook-warnings"
  | "injector"
  | "csi-mount"
  | "csi-rotation"
  | "flags"
  | "kubeconfig";

export const ANCHORS: readonly Anchor[] = [
  "webhook-denied",
  "webhook-warnings",
  "injector",
  "csi-mount",
  "csi-rotation",
  "flags",
  "kubeconfig",
];

/** The suffix an error message ends with. */
export function seeDocs(anchor: Anchor): string {
  return ` (see ${TROUBLESHOOTING}#${anchor})`;
}
