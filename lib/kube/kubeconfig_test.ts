import { assert, assertEquals, assertThrows } from "../../tests/harness/assert.ts";
import { kubeClientOptions } from "./client.ts";
import { kubeconfigOptions, loadKubeconfig, MAX_KUBECONFIG_BYTES } from "./kubeconfig.ts";

const CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const KEY = "-----BEGIN PRIVATE KEY-----\nsecret-key-bytes\n-----END PRIVATE KEY-----\n";
const TOKEN = "eyJhbGciOiJSUzI1NiJ9.sekrit-token.sig";

/** A kubeconfig with one context; `cluster` and `user` are merged into its entries. */
function config(cluster: Record<string, unknown> = {}, user: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    "current-context": "dev",
    contexts: [{ name: "dev", context: { cluster: "c", user: "u" } }],
    clusters: [{
      name: "c",
      cluster: {
        server: "https://10.0.0.1:6443",
        "certificate-authority-data": btoa(CA),
        ...cluster,
      },
    }],
    users: [{ name: "u", user: { token: TOKEN, ...user } }],
  });
}

const files = (text: string, path = "/home/me/.kube/config") => [{ path, text }];
const noFiles = (p: string): string => {
  throw new Error(`no such file ${p}`);
};

Deno.test("kubeconfigOptions() reads the current context's server, CA and token", () => {
  assertEquals(kubeconfigOptions(files(config()), noFiles), {
    server: "https://10.0.0.1:6443",
    caCert: CA,
    token: TOKEN,
  });
});

Deno.test("client certificates and CA files are read relative to the kubeconfig's folder", () => {
  const read = (p: string) =>
    ({ "/home/me/.kube/ca.crt": CA, "/home/me/.kube/me.crt": CA, "/keys/me.key": KEY })[p] ??
      noFiles(p);
  const o = kubeconfigOptions(
    files(config({ "certificate-authority-data": undefined, "certificate-authority": "ca.crt" }, {
      token: undefined,
      "client-certificate": "me.crt",
      "client-key": "/keys/me.key",
    })),
    read,
  );
  assertEquals(o, { server: "https://10.0.0.1:6443", caCert: CA, clientCert: CA, clientKey: KEY });
});

Deno.test("a server's path prefix is kept; a trailing slash is not", () => {
  const o = kubeconfigOptions(files(config({ server: "https://rancher.local/k8s/clusters/c-1/" })));
  assertEquals(o.server, "https://rancher.local/k8s/clusters/c-1");
});

Deno.test("several files merge as kubectl merges them: the first to define a name wins", () => {
  const second = JSON.stringify({
    "current-context": "other",
    contexts: [{ name: "dev", context: { cluster: "evil", user: "u" } }],
    clusters: [{ name: "c", cluster: { server: "https://evil.example" } }],
  });
  const o = kubeconfigOptions([...files(config()), ...files(second, "/b")]);
  assertEquals(o.server, "https://10.0.0.1:6443");
  const firstHasNoContext = JSON.stringify({ clusters: [] });
  assertEquals(
    kubeconfigOptions([...files(firstHasNoContext, "/a"), ...files(config(), "/b")]).server,
    "https://10.0.0.1:6443",
  );
});

/** Hostile or unsupported kubeconfigs: each refused with the file and field, never a secret. */
const REFUSED: Array<[string, string, string]> = [
  [
    "an exec plugin",
    config({}, { exec: { command: "/bin/sh", args: ["-c", "id"] } }),
    "users[0].user.exec: runs a credential plugin, which is not supported",
  ],
  [
    "an auth-provider",
    config({}, { "auth-provider": { name: "oidc" } }),
    "users[0].user.auth-provider: runs a credential plugin",
  ],
  [
    "basic auth",
    config({}, { username: "admin", password: "hunter2" }),
    "users[0].user.username: basic authentication is not supported",
  ],
  [
    "impersonation",
    config({}, { as: "system:admin" }),
    "users[0].user.as: impersonation is not supported",
  ],
  [
    "a skipped TLS check",
    config({ "insecure-skip-tls-verify": true }),
    "clusters[0].cluster.insecure-skip-tls-verify: is not supported",
  ],
  [
    "a proxy-url",
    config({ "proxy-url": "http://proxy:3128" }),
    "clusters[0].cluster.proxy-url: is not supported",
  ],
  [
    "a tls-server-name",
    config({ "tls-server-name": "x" }),
    "clusters[0].cluster.tls-server-name: is not supported",
  ],
  [
    "plain http to another host",
    config({ server: "http://10.0.0.1:8080" }),
    "is plain http: the token would travel in clear",
  ],
  ["a file: server", config({ server: "file:///etc/passwd" }), `"file:" is not https`],
  [
    "credentials in the server",
    config({ server: "https://u:p@10.0.0.1" }),
    "must not hold a user name or password",
  ],
  [
    "a query in the server",
    config({ server: "https://10.0.0.1/?x=1" }),
    "must not hold a query or a fragment",
  ],
  ["a server that is no URL", config({ server: "10.0.0.1:6443" }), "is not a URL"],
  [
    "CA data that is not base64",
    config({ "certificate-authority-data": "%%%" }),
    "certificate-authority-data: is not base64",
  ],
  [
    "CA data that is not PEM",
    config({ "certificate-authority-data": btoa("hello") }),
    "is not base64 of PEM text",
  ],
  [
    "a client certificate without its key",
    config({}, { "client-certificate-data": btoa(CA) }),
    "client-certificate: is set without its pair",
  ],
  ["a token and a tokenFile", config({}, { tokenFile: "/t" }), "token: and tokenFile are both set"],
  [
    "a context naming a missing cluster",
    config().replace(`"cluster":"c"`, `"cluster":"nope"`),
    `names cluster "nope", which no file defines`,
  ],
  [
    "a context naming a missing user",
    config().replace(`"user":"u"`, `"user":"nope"`),
    `names user "nope", which no file defines`,
  ],
  ["no current-context", JSON.stringify({ clusters: [] }), "no current-context is set"],
  [
    "a current-context naming nothing",
    config().replace(`"current-context":"dev"`, `"current-context":"x"`),
    `current-context "x" names no context`,
  ],
  [
    "a list that is a string",
    JSON.stringify({ "current-context": "x", clusters: "all" }),
    "Invalid kubeconfig",
  ],
  ["a list", "[1, 2]", "Invalid kubeconfig"],
  ["YAML that does not parse", "current-context: [x\n  token: " + TOKEN, "Cannot parse kubeconfig"],
  [
    "an alias bomb",
    'a: &a ["x","x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n',
    "Cannot parse kubeconfig",
  ],
];

for (const [what, text, want] of REFUSED) {
  Deno.test(`kubeconfigOptions() refuses ${what}, naming the file and the field and no secret`, () => {
    const e = assertThrows(() => kubeconfigOptions(files(text), noFiles), TypeError);
    assert(e.message.includes(want), `${e.message}\n  should include: ${want}`);
    assert(e.message.includes("/home/me/.kube/config"), e.message);
    for (const secret of [TOKEN, "hunter2", "secret-key-bytes"]) {
      assert(!e.message.includes(secret), `the message holds a secret: ${e.message}`);
    }
  });
}

Deno.test("loadKubeconfig() refuses a file over the size limit, a FIFO-like non-file and too many files", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const big = `${dir}/big`;
    await Deno.writeTextFile(big, "#".repeat(MAX_KUBECONFIG_BYTES + 1));
    let e = assertThrows(() => loadKubeconfig([big], "--kubeconfig"), TypeError);
    assert(e.message.includes(`Cannot read kubeconfig ${big} (--kubeconfig)`), e.message);
    assert(e.message.includes("at most"), e.message);
    e = assertThrows(() => loadKubeconfig([dir], "KUBECONFIG"), TypeError);
    assert(e.message.includes("not a regular file"), e.message);
    e = assertThrows(() => loadKubeconfig(Array(17).fill(big), "KUBECONFIG"), TypeError);
    assert(e.message.includes("at most 16"), e.message);
    e = assertThrows(() => loadKubeconfig([`${dir}/none`], "--kubeconfig"), TypeError);
    assert(e.message.includes(`Cannot read kubeconfig ${dir}/none (--kubeconfig)`), e.message);
    e = assertThrows(
      () => loadKubeconfig([`${dir}/none`], "KUBECONFIG", { skipMissing: true }),
      TypeError,
    );
    assertEquals(e.message, `KUBECONFIG: none of ${dir}/none exists`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("kubeClientOptions(): --kube-server first, then --kubeconfig, then $KUBECONFIG, else in-cluster", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const a = `${dir}/a`;
    const b = `${dir}/b`;
    await Deno.writeTextFile(a, config({ server: "https://a.example" }));
    await Deno.writeTextFile(b, config({ server: "https://b.example" }));
    const env = (v?: string) => (n: string) => n === "KUBECONFIG" ? v : undefined;
    assertEquals(
      kubeClientOptions({ kubeServer: "https://s.example" }, env(b)).server,
      "https://s.example",
    );
    assertEquals(kubeClientOptions({ kubeconfig: a }, env(b)).server, "https://a.example");
    assertEquals(kubeClientOptions({}, env(`${dir}/none-here::${b}`)).server, "https://b.example");
    const e = assertThrows(
      () => kubeClientOptions({ kubeServer: "https://s", kubeconfig: a }),
      TypeError,
    );
    assertEquals(e.message, "--kube-server and --kubeconfig are exclusive: give one of them");
    const none = assertThrows(() => kubeClientOptions({}, env(undefined)), TypeError);
    assert(none.message.includes("KUBERNETES_SERVICE_HOST is not set"), none.message);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
