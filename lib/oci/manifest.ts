/** The documents of an image: manifests and indexes (OCI and Docker v2 schema 2), the
 * platform an index entry is for, and the entrypoint and cmd in the config blob. */
import { z } from "zod";

/** Media types asked for, most wanted first; schema 1 is not asked for, as no current
 * registry needs it. */
export const MANIFEST_TYPES = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
];

const CONFIG_TYPES = [
  "application/vnd.oci.image.config.v1+json",
  "application/vnd.docker.container.image.v1+json",
];

/** os/architecture[/variant] as in `linux/arm64/v8`. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string | undefined;
}

const Descriptor = z.object({
  mediaType: z.string().optional(),
  // Checked because it becomes part of a request path: no "/", "?" or ".." can slip in.
  digest: z.string().regex(/^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/),
  size: z.number().int().nonnegative(),
  platform: z.object({
    os: z.string(),
    architecture: z.string(),
    variant: z.string().optional(),
  }).optional(),
});
export type Descriptor = z.infer<typeof Descriptor>;

const Index = z.object({ mediaType: z.string().optional(), manifests: z.array(Descriptor) });
const Image = z.object({ mediaType: z.string().optional(), config: Descriptor });

/** A parsed manifest: an index to pick a platform from, or one image's manifest. */
export type Manifest =
  | { kind: "index"; manifests: Descriptor[] }
  | { kind: "image"; config: Descriptor };

/** Parses a manifest; a SyntaxError says why it is not one this client can use. */
export function parseManifest(bytes: Uint8Array, contentType: string): Manifest {
  const type = contentType.split(";")[0]!.trim();
  if (type.startsWith("application/vnd.docker.distribution.manifest.v1")) {
    throw new SyntaxError(`schema 1 manifest (${type}) is not supported`);
  }
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new SyntaxError(`manifest of type "${type}" is not JSON`);
  }
  // OCI allows manifests without mediaType, so the shape decides.
  const index = Index.safeParse(json);
  if (index.success) return { kind: "index", manifests: index.data.manifests };
  const image = Image.safeParse(json);
  if (!image.success) throw new SyntaxError(`"${type}" is neither an image index nor a manifest`);
  const configType = image.data.config.mediaType ?? "";
  if (!CONFIG_TYPES.includes(configType)) {
    throw new SyntaxError(`not a container image: its config has media type "${configType}"`);
  }
  return { kind: "image", config: image.data.config };
}

/** Parses `os/arch[/variant]`; a TypeError names the text when malformed. */
export function parsePlatform(text: string): Platform {
  const parts = text.split("/");
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9._-]+$/.test(p))) {
    throw new TypeError(`Invalid platform "${text}": expected os/architecture[/variant]`);
  }
  const [os, architecture, variant] = parts as [string, string, string?];
  return variant ? { os, architecture, variant } : { os, architecture };
}

/** `linux/arm64/v8` */
export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter((s) => s).join("/");
}

/** The index entry for `want`, as a runtime on that platform would pick it. */
export function selectManifest(manifests: Descriptor[], want: Platform): Descriptor | undefined {
  const wantVariant = normalVariant(want.architecture, want.variant);
  return manifests.find((m) =>
    m.platform !== undefined && m.platform.os === want.os &&
    m.platform.architecture === want.architecture &&
    normalVariant(m.platform.architecture, m.platform.variant) === wantVariant
  );
}

// Indexes write arm64 both with and without "v8", and arm without its "v7"; containerd
// treats each pair as the same platform.
function normalVariant(architecture: string, variant = ""): string {
  if (architecture === "arm64" && variant === "") return "v8";
  if (architecture === "arm" && variant === "") return "v7";
  if (architecture === "amd64" && variant === "v1") return "";
  return variant;
}

// Docker's strslice: a JSON string is a one-word list, and null is empty.
const Words = z.union([z.array(z.string()), z.string().transform((s) => [s])]).nullish()
  .transform((v) => v ?? []);
const ConfigBlob = z.object({
  config: z.object({ Entrypoint: Words, Cmd: Words }).nullish(),
});

/** Entrypoint and Cmd from an image config blob; both empty when the image sets neither. */
export function parseImageConfig(bytes: Uint8Array): { entrypoint: string[]; cmd: string[] } {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    throw new SyntaxError("image config is not JSON");
  }
  const parsed = ConfigBlob.safeParse(json);
  if (!parsed.success) {
    throw new SyntaxError(
      `image config has an unexpected shape at ${
        parsed.error.issues.map((i) => i.path.join(".")).join(", ")
      }`,
    );
  }
  return { entrypoint: parsed.data.config?.Entrypoint ?? [], cmd: parsed.data.config?.Cmd ?? [] };
}

/** Checks that `bytes` hash to `digest` (sha256 or sha512); false for other algorithms. */
export async function digestMatches(bytes: Uint8Array, digest: string): Promise<boolean> {
  const [algorithm, hex] = digest.split(":");
  const name = algorithm === "sha256" ? "SHA-256" : algorithm === "sha512" ? "SHA-512" : undefined;
  if (!name || !hex) return false;
  return toHex(await crypto.subtle.digest(name, bytes as Uint8Array<ArrayBuffer>)) === hex;
}

/** `sha256:<hex>` of `bytes`, the digest a registry gives a manifest. */
export async function sha256Digest(bytes: Uint8Array): Promise<string> {
  return "sha256:" + toHex(await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
}

function toHex(buf: ArrayBuffer): string {
  return Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");
}
