/** Registry credentials from a Pod's imagePullSecrets, chosen for one image the way the
 * kubelet chooses them: every entry whose registry key matches, most specific key first. */
import { z } from "zod";
import type { ImageReference } from "./reference.ts";

/** One way to log in to a registry. */
export interface RegistryCredential {
  username?: string | undefined;
  password?: string;
  /** OAuth2 refresh token (`identitytoken` in a Docker config), sent to the token service. */
  identityToken?: string;
  /** The registry key it was listed under, e.g. `https://index.docker.io/v1/`, for logs. */
  registry: string;
}

/** The parts of a Kubernetes Secret used here; `data` values are base64, as in the API. */
export interface PullSecret {
  type: string;
  data?: Record<string, string> | null | undefined;
  metadata?: { name?: string | undefined; namespace?: string | undefined } | undefined;
}

const Entry = z.object({
  auth: z.string().optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  identitytoken: z.string().optional(),
});
type Entry = z.infer<typeof Entry>;
const Auths = z.record(z.string(), Entry);
const DockerConfigJson = z.object({ auths: Auths });

const FORMATS: Record<string, { key: string; parse: (v: unknown) => Record<string, Entry> }> = {
  "kubernetes.io/dockerconfigjson": {
    key: ".dockerconfigjson",
    parse: (v) => DockerConfigJson.parse(v).auths,
  },
  "kubernetes.io/dockercfg": { key: ".dockercfg", parse: (v) => Auths.parse(v) },
};

/** Every credential in `secrets` that applies to `image`, in the order to try them: longer
 * (more specific) registry keys first, then in the order of the secrets. Secrets of other
 * types are skipped, as the kubelet skips them; a malformed pull secret is a TypeError that
 * names the secret and the registry key, never a value. */
export function credentialsFor(
  image: Pick<ImageReference, "registry" | "repository">,
  secrets: PullSecret[],
): RegistryCredential[] {
  const found: { specificity: number; credential: RegistryCredential }[] = [];
  for (const secret of secrets) {
    const format = FORMATS[secret.type];
    if (!format) continue;
    const where = `Pull secret ${
      secret.metadata?.name ? `"${secret.metadata.name}"` : "(unnamed)"
    }`;
    const raw = secret.data?.[format.key];
    if (raw === undefined) throw new TypeError(`${where} has no data key "${format.key}"`);
    let entries: Record<string, Entry>;
    try {
      entries = format.parse(JSON.parse(decodeBase64(raw)));
    } catch (e) {
      const why = e instanceof z.ZodError
        ? `unexpected shape at ${e.issues.map((i) => i.path.join(".") || "(top)").join(", ")}`
        : "it is not base64 of JSON";
      throw new TypeError(`${where}: cannot parse data key "${format.key}": ${why}`);
    }
    for (const [key, entry] of Object.entries(entries)) {
      const specificity = matchKey(key, image);
      if (specificity === undefined) continue;
      const credential = toCredential(key, entry, where);
      if (credential && !found.some((f) => sameLogin(f.credential, credential))) {
        found.push({ specificity, credential });
      }
    }
  }
  // Array.prototype.sort is stable, so equally specific keys keep the secrets' order.
  return found.sort((a, b) => b.specificity - a.specificity).map((f) => f.credential);
}

/** How well registry key `key` matches the image: the number of repository path components it
 * names (0 for a bare host), or undefined when it does not match. */
export function matchKey(
  key: string,
  image: Pick<ImageReference, "registry" | "repository">,
): number | undefined {
  const rest = key.trim().replace(/^https?:\/\//i, "");
  const slash = rest.indexOf("/");
  const host = slash < 0 ? rest : rest.slice(0, slash);
  // Docker's own config writes Docker Hub as https://index.docker.io/v1/; "/v1/" and "/v2/"
  // name the API version, not a repository.
  const path = (slash < 0 ? "" : rest.slice(slash)).replace(/^\/v[12](?=\/|$)/, "")
    .split("/").filter((p) => p !== "");
  if (!hostMatches(host, image.registry)) return undefined;
  const repo = image.repository.split("/");
  if (path.length > repo.length || path.some((p, i) => p !== repo[i])) return undefined;
  return path.length;
}

/** Docker Hub has three names; anything else compares by host and port, where a `*` in the
 * key matches within one label, as in the kubelet (`*.registry.example`). */
function hostMatches(pattern: string, registry: string): boolean {
  const [pHost = "", pPort = ""] = splitPort(canonicalHost(pattern));
  const [rHost = "", rPort = ""] = splitPort(canonicalHost(registry));
  if (pPort !== rPort) return false;
  const pLabels = pHost.split(".");
  const rLabels = rHost.split(".");
  return pLabels.length === rLabels.length && pLabels.every((p, i) => globLabel(p, rLabels[i]!));
}

function canonicalHost(host: string): string {
  const h = host.toLowerCase();
  return h === "index.docker.io" || h === "registry-1.docker.io" ? "docker.io" : h;
}

function splitPort(host: string): [string, string] {
  const m = host.match(/^(.*?)(?::(\d+))?$/)!;
  return [m[1] ?? "", m[2] ?? ""];
}

function globLabel(pattern: string, label: string): boolean {
  if (!pattern.includes("*")) return pattern === label;
  const re = pattern.split("*").map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(
    "[^.]*",
  );
  return new RegExp(`^${re}$`).test(label);
}

function toCredential(key: string, e: Entry, where: string): RegistryCredential | undefined {
  if (e.auth) {
    let text: string;
    try {
      text = decodeBase64(e.auth);
    } catch {
      throw new TypeError(`${where}: "auth" of registry "${key}" is not base64`);
    }
    const colon = text.indexOf(":");
    if (colon < 0) {
      throw new TypeError(`${where}: "auth" of registry "${key}" is not base64 of user:password`);
    }
    return { registry: key, username: text.slice(0, colon), password: text.slice(colon + 1) };
  }
  if (e.identitytoken) {
    return { registry: key, username: e.username, identityToken: e.identitytoken };
  }
  if (e.username !== undefined || e.password !== undefined) {
    return { registry: key, username: e.username ?? "", password: e.password ?? "" };
  }
  return undefined; // an entry with only an e-mail address, as old `docker login` wrote
}

function sameLogin(a: RegistryCredential, b: RegistryCredential): boolean {
  return a.username === b.username && a.password === b.password &&
    a.identityToken === b.identityToken;
}

function decodeBase64(text: string): string {
  const bytes = Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
}
