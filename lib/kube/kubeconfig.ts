/** A kubeconfig's current context as client options, so a serving role can run against a
 * cluster from a workstation (`--kubeconfig`, `$KUBECONFIG`). Only what the client can honour
 * is read: the server, its CA, a bearer token or a client certificate. Plugins (`exec`,
 * `auth-provider`) would run programs or need their caches, and are refused by name, as is
 * every setting that would otherwise be silently ignored (a skipped TLS check, a proxy, a
 * server name, basic auth, impersonation). Errors name the file and the field, never a
 * token, key or certificate. */
import { parse } from "yaml";
import { z } from "zod";
import { describeIssues } from "../config/issues.ts";
import type { KubeClientOptions } from "./client.ts";

/** A kubeconfig is a few KiB; larger is not one (or is an attempt to exhaust memory). */
export const MAX_KUBECONFIG_BYTES = 1024 * 1024;
/** `$KUBECONFIG` lists a few files; more is a mistake. */
export const MAX_KUBECONFIG_FILES = 16;

const Name = z.string().min(1).max(253);
const Cluster = z.looseObject({
  server: z.string().min(1),
  "certificate-authority": z.string().min(1).optional(),
  "certificate-authority-data": z.string().min(1).optional(),
  "insecure-skip-tls-verify": z.boolean().optional(),
  "tls-server-name": z.string().optional(),
  "proxy-url": z.string().optional(),
});
const User = z.looseObject({
  token: z.string().optional(),
  tokenFile: z.string().min(1).optional(),
  "client-certificate": z.string().min(1).optional(),
  "client-certificate-data": z.string().min(1).optional(),
  "client-key": z.string().min(1).optional(),
  "client-key-data": z.string().min(1).optional(),
});
const Context = z.looseObject({ cluster: Name, user: z.string().optional() });
const list = <T extends z.ZodType>(entry: T) => z.array(entry).nullish().transform((v) => v ?? []);
const Kubeconfig = z.looseObject({
  clusters: list(z.looseObject({ name: Name, cluster: Cluster })),
  users: list(z.looseObject({ name: Name, user: User.nullish() })),
  contexts: list(z.looseObject({ name: Name, context: Context })),
  "current-context": z.string().optional(),
});

type Parsed = z.infer<typeof Kubeconfig>;

/** One kubeconfig file's text, with the path it was read from (relative file names in it are
 * relative to its folder, as kubectl reads them). */
export interface KubeconfigFile {
  path: string;
  text: string;
}

/** What the files name in other files: read through this, so tests need no files. */
export type ReadFile = (path: string) => string;

/** Reads `files` (at most MAX_KUBECONFIG_FILES, each at most MAX_KUBECONFIG_BYTES) and
 * returns the current context's options. `source` is the flag or variable the files came
 * from, for the messages. With `skipMissing` (a `$KUBECONFIG` list, as kubectl reads it) a
 * file that does not exist is passed over, as long as one does. */
export function loadKubeconfig(
  files: string[],
  source: string,
  o: { read?: ReadFile; skipMissing?: boolean } = {},
): KubeClientOptions {
  const read = o.read ?? readBounded;
  if (files.length === 0) throw new TypeError(`${source} names no file`);
  if (files.length > MAX_KUBECONFIG_FILES) {
    throw new TypeError(`${source} names ${files.length} files; at most ${MAX_KUBECONFIG_FILES}`);
  }
  const texts: KubeconfigFile[] = [];
  for (const path of files) {
    try {
      texts.push({ path, text: read(path) });
    } catch (e) {
      if (o.skipMissing && e instanceof Deno.errors.NotFound) continue;
      throw new TypeError(`Cannot read kubeconfig ${path} (${source}): ${(e as Error).message}`);
    }
  }
  if (texts.length === 0) {
    throw new TypeError(`${source}: none of ${files.join(":")} exists`);
  }
  return kubeconfigOptions(texts, read);
}

/** The current context's options from kubeconfig texts, merged as kubectl merges them: the
 * first file that sets `current-context`, or names a cluster, user or context, wins. */
export function kubeconfigOptions(
  files: KubeconfigFile[],
  read: ReadFile = readBounded,
): KubeClientOptions {
  let current: { value: string; file: string } | undefined;
  const clusters = new Map<string, { file: string; index: number; c: Parsed["clusters"][0] }>();
  const users = new Map<string, { file: string; index: number; u: Parsed["users"][0] }>();
  const contexts = new Map<string, { file: string; c: Parsed["contexts"][0] }>();
  for (const f of files) {
    const k = parseFile(f);
    if (!current && k["current-context"]) current = { value: k["current-context"], file: f.path };
    k.clusters.forEach((c, index) => {
      if (!clusters.has(c.name)) clusters.set(c.name, { file: f.path, index, c });
    });
    k.users.forEach((u, index) => {
      if (!users.has(u.name)) users.set(u.name, { file: f.path, index, u });
    });
    for (const c of k.contexts) {
      if (!contexts.has(c.name)) contexts.set(c.name, { file: f.path, c });
    }
  }
  const where = files.map((f) => f.path).join(":");
  if (!current) throw new TypeError(`kubeconfig ${where}: no current-context is set`);
  const context = contexts.get(current.value);
  if (!context) {
    throw new TypeError(
      `kubeconfig ${current.file}: current-context ${
        JSON.stringify(current.value)
      } names no context`,
    );
  }
  const clusterName = context.c.context.cluster;
  const cluster = clusters.get(clusterName);
  if (!cluster) {
    throw new TypeError(
      `kubeconfig ${context.file}: context ${JSON.stringify(context.c.name)} names cluster ${
        JSON.stringify(clusterName)
      }, which no file defines`,
    );
  }
  const userName = context.c.context.user;
  const user = userName ? users.get(userName) : undefined;
  if (userName && !user) {
    throw new TypeError(
      `kubeconfig ${context.file}: context ${JSON.stringify(context.c.name)} names user ${
        JSON.stringify(userName)
      }, which no file defines`,
    );
  }
  const out: KubeClientOptions = {
    ...clusterOptions(cluster.file, `clusters[${cluster.index}].cluster`, cluster.c.cluster, read),
  };
  if (user?.u.user) {
    Object.assign(out, userOptions(user.file, `users[${user.index}].user`, user.u.user, read));
  }
  return out;
}

function parseFile(f: KubeconfigFile): Parsed {
  let raw: unknown;
  try {
    // Aliases are capped (the yaml default): a billion-laughs file is refused, not expanded.
    raw = parse(f.text, { maxAliasCount: 100 });
  } catch (e) {
    throw new TypeError(`Cannot parse kubeconfig ${f.path}: ${firstLine((e as Error).message)}`);
  }
  // An empty file is no configuration, as kubectl reads it.
  const r = Kubeconfig.safeParse(raw ?? {});
  if (!r.success) {
    throw new TypeError(`Invalid kubeconfig ${f.path}: ${describeIssues(r.error.issues)}`);
  }
  return r.data;
}

function clusterOptions(
  file: string,
  field: string,
  c: z.infer<typeof Cluster>,
  read: ReadFile,
): KubeClientOptions {
  const refuse = (key: string, why: string) => {
    throw new TypeError(`kubeconfig ${file}: ${field}.${key}: ${why}`);
  };
  if (c["insecure-skip-tls-verify"]) {
    refuse(
      "insecure-skip-tls-verify",
      "is not supported: give the cluster's CA (certificate-authority or certificate-authority-data)",
    );
  }
  if (c["tls-server-name"]) refuse("tls-server-name", "is not supported");
  if (c["proxy-url"]) {
    refuse("proxy-url", "is not supported: set HTTPS_PROXY in the environment instead");
  }
  if (c["certificate-authority"] && c["certificate-authority-data"]) {
    refuse("certificate-authority", "and certificate-authority-data are both set: give one");
  }
  const server = checkServer(c.server, (why) => refuse("server", why));
  const caCert = c["certificate-authority-data"] !== undefined
    ? pemData(file, `${field}.certificate-authority-data`, c["certificate-authority-data"])
    : c["certificate-authority"] !== undefined
    ? pemFile(file, `${field}.certificate-authority`, c["certificate-authority"], read)
    : undefined;
  return { server, ...(caCert === undefined ? {} : { caCert }) };
}

/** https, or http to a loopback address only (`kubectl proxy`); no credentials, query or
 * fragment. A path prefix (a proxy in front of the API server) is kept. */
function checkServer(text: string, refuse: (why: string) => never): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    refuse(`${JSON.stringify(text)} is not a URL: write https://host[:port]`);
  }
  if (url.protocol === "http:") {
    const loopback = url.hostname === "localhost" || url.hostname === "[::1]" ||
      /^127\.\d+\.\d+\.\d+$/.test(url.hostname);
    if (!loopback) {
      refuse(
        `${
          JSON.stringify(text)
        } is plain http: the token would travel in clear (only a loopback address, as kubectl proxy serves, may be http)`,
      );
    }
  } else if (url.protocol !== "https:") {
    refuse(`${JSON.stringify(url.protocol)} is not https`);
  }
  if (url.username || url.password) refuse("must not hold a user name or password");
  if (url.search || url.hash || text.includes("?") || text.includes("#")) {
    refuse("must not hold a query or a fragment");
  }
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, "")}`;
}

function userOptions(
  file: string,
  field: string,
  u: z.infer<typeof User>,
  read: ReadFile,
): Partial<KubeClientOptions> {
  const refuse = (key: string, why: string) => {
    throw new TypeError(`kubeconfig ${file}: ${field}.${key}: ${why}`);
  };
  const plugin =
    "runs a credential plugin, which is not supported: use a token or a client certificate (e.g. a ServiceAccount token from kubectl create token)";
  if (u.exec !== undefined) refuse("exec", plugin);
  if (u["auth-provider"] !== undefined) refuse("auth-provider", plugin);
  if (u.username !== undefined || u.password !== undefined) {
    refuse(
      u.username !== undefined ? "username" : "password",
      "basic authentication is not supported",
    );
  }
  for (const key of ["as", "as-uid", "as-groups", "as-user-extra"]) {
    if (u[key] !== undefined) refuse(key, "impersonation is not supported");
  }
  if (u.token !== undefined && u.tokenFile !== undefined) {
    refuse("token", "and tokenFile are both set: give one");
  }
  const pair = (name: "client-certificate" | "client-key") => {
    const data = `${name}-data` as const;
    if (u[name] !== undefined && u[data] !== undefined) {
      refuse(name, `and ${data} are both set: give one`);
    }
    return u[data] !== undefined
      ? pemData(file, `${field}.${data}`, u[data])
      : u[name] !== undefined
      ? pemFile(file, `${field}.${name}`, u[name], read)
      : undefined;
  };
  const clientCert = pair("client-certificate");
  const clientKey = pair("client-key");
  if ((clientCert === undefined) !== (clientKey === undefined)) {
    refuse(
      clientCert === undefined ? "client-key" : "client-certificate",
      "is set without its pair (client-certificate and client-key go together)",
    );
  }
  const out: Partial<KubeClientOptions> = {};
  if (u.token) out.token = u.token;
  if (u.tokenFile) out.tokenFile = relativeTo(file, u.tokenFile);
  if (clientCert !== undefined && clientKey !== undefined) {
    out.clientCert = clientCert;
    out.clientKey = clientKey;
  }
  return out;
}

/** A `*-data` field: base64 of PEM text. */
function pemData(file: string, field: string, b64: string): string {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(
      Uint8Array.from(atob(b64.replace(/\s+/g, "")), (c) => c.charCodeAt(0)),
    );
  } catch {
    throw new TypeError(`kubeconfig ${file}: ${field}: is not base64`);
  }
  if (!text.includes("-----BEGIN ")) {
    throw new TypeError(`kubeconfig ${file}: ${field}: is not base64 of PEM text`);
  }
  return text;
}

/** A file field: a PEM file, relative to the kubeconfig's folder. */
function pemFile(file: string, field: string, path: string, read: ReadFile): string {
  const full = relativeTo(file, path);
  let text: string;
  try {
    text = read(full);
  } catch (e) {
    throw new TypeError(
      `kubeconfig ${file}: ${field}: cannot read ${full}: ${(e as Error).message}`,
    );
  }
  if (!text.includes("-----BEGIN ")) {
    throw new TypeError(`kubeconfig ${file}: ${field}: ${full} is not a PEM file`);
  }
  return text;
}

function relativeTo(file: string, path: string): string {
  if (path.startsWith("/")) return path;
  const dir = file.includes("/") ? file.replace(/\/[^/]*$/, "") || "/" : ".";
  return `${dir}/${path}`;
}

/** Reads a file of at most MAX_KUBECONFIG_BYTES, refusing anything but a regular file (a
 * FIFO or /dev/zero would never end). */
export function readBounded(path: string): string {
  const info = Deno.statSync(path);
  if (!info.isFile) throw new TypeError("not a regular file");
  if (info.size > MAX_KUBECONFIG_BYTES) {
    throw new TypeError(`${info.size} bytes; at most ${MAX_KUBECONFIG_BYTES}`);
  }
  return Deno.readTextFileSync(path);
}

function firstLine(s: string): string {
  return s.split("\n")[0]!.slice(0, 300);
}
