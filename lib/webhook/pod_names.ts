/** The names of an admitted Pod that the webhook puts into API paths, checked when the Pod
 * is admitted, before any request: a mutating webhook sees the Pod before the API server
 * validates it, so `spec.serviceAccountName: ../../kube-system/serviceaccounts/default` or
 * a pull secret named `regcred?x=1` reaches here as written. */
import { checkNamespace, checkObjectName, isObjectName, quote } from "../kube/api_path.ts";
import type { Pod } from "../kube/pod.ts";

/** The Pod names a namespace other than the one the API server admits it in. */
export class NamespaceMismatchError extends TypeError {
  override name = "NamespaceMismatchError";
}

/** Returns the namespace the webhook reads from: the AdmissionReview's `request.namespace`,
 * set by the API server from the request's URL. The Pod's own `metadata.namespace` is a
 * claim of its author; when set it must agree. Throws KubeNameError naming the field (with
 * its index) for a namespace, ServiceAccount or pull secret name the API server would not
 * accept. Costs a regex test per name: no list or field name is built unless one is bad. */
export function checkPodNames(requestNamespace: string | undefined, pod: Pod): string {
  const namespace = checkNamespace("request.namespace", requestNamespace ?? "");
  const claimed = pod.metadata.namespace;
  if (claimed && claimed !== namespace) {
    throw new NamespaceMismatchError(
      `metadata.namespace ${quote(claimed)} differs from request.namespace ${
        quote(namespace)
      }, the namespace the API server admits the Pod in`,
    );
  }
  const sa = pod.spec.serviceAccountName;
  // Empty means "default", as for the API server.
  if (sa && !isObjectName(sa)) checkObjectName("spec.serviceAccountName", sa);
  const secrets = pod.spec.imagePullSecrets;
  if (secrets) {
    for (let i = 0; i < secrets.length; i++) {
      const name = secrets[i]!.name;
      // A pull secret without a name is skipped, by the kubelet and by images.ts.
      if (name && !isObjectName(name)) checkObjectName(`spec.imagePullSecrets[${i}].name`, name);
    }
  }
  return namespace;
}
