/** `csi render`: a SecretsStoreImport's files made from a local store file, as the driver
 * would make them, so a user can check templates, whole secrets and modes without a cluster.
 * Values are masked unless asked for: a template shows its own text with each action as
 * ********, a whole secret its keys, a key file ********. */
import { parse } from "yaml";
import { describeIssues } from "../config/issues.ts";
import { readKey, type StorePath } from "../config/store_path.ts";
import { MASK } from "../template/engine.ts";
import { toYaml, type Value } from "../template/render_value.ts";
import type { Secret } from "../vault/client.ts";
import { fileMode } from "./files.ts";
import { parseMountGroup } from "./mount_group.ts";
import { planFiles } from "./plan.ts";
import { sourcesOf, type SsiFileSpec, SsiSchema, templateOf } from "./ssi.ts";

export interface RenderLocalOptions {
  /** The SecretsStoreImport's file (YAML or JSON); `text`, when given, is its content. */
  file: string;
  text?: string;
  /** Reads one secret of the store file. */
  read: (path: StorePath, version: number | undefined) => Promise<Secret>;
  /** Print the real contents instead of masked ones. */
  showValues: boolean;
  /** The Pod's fsGroup (decimal text, as the kubelet passes it), for the modes shown. */
  fsGroup?: string | undefined;
  print: (line: string) => void;
}

/** Parses, reads and renders; throws a TypeError or FilePlanError naming the file, field,
 * path or template position, as the driver's errors do. */
export async function renderLocal(o: RenderLocalOptions): Promise<void> {
  let raw: unknown;
  try {
    raw = parse(o.text ?? await Deno.readTextFile(o.file));
  } catch (e) {
    throw new TypeError(`Cannot read ${o.file}: ${(e as Error).message}`);
  }
  // A file written for kubectl apply may leave the namespace to the command line.
  if (raw && typeof raw === "object" && "metadata" in raw) {
    const m = (raw as { metadata?: Record<string, unknown> }).metadata;
    if (m && typeof m === "object" && m.namespace === undefined) m.namespace = "default";
  }
  const r = SsiSchema.safeParse(raw);
  if (!r.success) {
    throw new TypeError(
      `${o.file} is not a valid SecretsStoreImport: ${describeIssues(r.error.issues)}`,
    );
  }
  const ssi = r.data;
  const name = `${ssi.metadata.namespace}/${ssi.metadata.name}`;
  const secrets = new Map<string, Secret>();
  for (const s of ssi.spec.files.flatMap(sourcesOf)) {
    const key = readKey(s.path, s.version);
    if (!secrets.has(key)) secrets.set(key, await o.read(s.path, s.version));
  }
  const files = planFiles(name, ssi.spec.files, secrets, "store file");
  let gid: number | undefined;
  try {
    gid = parseMountGroup(o.fsGroup);
  } catch {
    throw new TypeError(`--fs-group ${JSON.stringify(o.fsGroup)} is not a group id`);
  }
  const own = gid === undefined ? { mode: 0o444 } : { uid: 0, gid, mode: 0o440 };
  for (const [i, f] of files.entries()) {
    const spec = ssi.spec.files[i]!;
    const mode = fileMode(own, f.mode).toString(8).padStart(4, "0");
    // Sizes only with the values: a size tells how long a password is.
    const size = o.showValues ? `, ${f.bytes.length} bytes` : "";
    o.print(`--- ${f.name} (mode ${mode}${size}, ${describe(spec)})`);
    o.print((o.showValues ? shown(f.bytes) : masked(spec, secrets)).replace(/\n$/, ""));
  }
}

function describe(f: SsiFileSpec): string {
  if (!f.source) {
    const names = Object.entries(f.sources ?? {}).map(([n, s]) => `${n}=${s.path}`);
    return `template over ${names.join(", ")}`;
  }
  if (f.source.key === undefined) return `${f.source.path} as ${f.format}`;
  return `${f.source.path}#${f.source.key}${f.decodeBase64 ? ", base64-decoded" : ""}`;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function shown(bytes: Uint8Array): string {
  try {
    return utf8.decode(bytes);
  } catch {
    return `(${bytes.length} bytes of binary, not shown)`;
  }
}

function masked(f: SsiFileSpec, secrets: Map<string, Secret>): string {
  if (!f.source) {
    const data: Record<string, Value> = {};
    for (const [n, s] of Object.entries(f.sources ?? {})) {
      data[n] = secrets.get(readKey(s.path, s.version))!.data as Value;
    }
    return templateOf(f).render(data, { mask: true });
  }
  if (f.source.key !== undefined) return MASK;
  // The secret's keys, each value masked.
  const data = secrets.get(readKey(f.source.path, f.source.version))!.data;
  const keys = Object.fromEntries(Object.keys(data).map((k) => [k, MASK]));
  return f.format === "yaml" ? toYaml(keys) : JSON.stringify(keys, null, 2) + "\n";
}
