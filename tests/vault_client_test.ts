/** The store client against a real OpenBao, logging in with real ServiceAccount tokens
 * issued by a real kube-apiserver. */
import {
  assert,
  assertArrayIncludes,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "./harness/assert.ts";
import { testEnv } from "./harness/env.ts";
import { enableKubeAuth, GUIDE } from "./harness/store_setup.ts";
import { secretValue, StoreClient, type StoreClientOptions } from "../lib/vault/client.ts";
import { StoreError, type StoreErrorKind } from "../lib/vault/errors.ts";
import { parseStoreAddress } from "../lib/config/store_address.ts";
import { parseStorePath } from "../lib/config/store_path.ts";
import { proxyInFront, startPathProxy } from "./harness/path_proxy.ts";

const env = testEnv();

const p = parseStorePath;

function client(o: Partial<StoreClientOptions> = {}): StoreClient {
  return new StoreClient({
    address: parseStoreAddress(env.bao.address, { allowInsecureHttp: false }),
    caCert: env.bao.caCert,
    ...o,
  });
}

/** A client logged in at kubernetes_local as the guide's ServiceAccount under `role`. */
async function loggedIn(role: string): Promise<StoreClient> {
  const c = client();
  await c.login(
    p("kubernetes_local"),
    role,
    await env.kube.tokenFor(GUIDE.namespace, GUIDE.serviceAccount),
  );
  return c;
}

async function expectKind(p: Promise<unknown>, kind: StoreErrorKind): Promise<StoreError> {
  const e = await assertRejects(() => p, StoreError);
  assertEquals(e.kind, kind, e.message);
  return e;
}

/** A broader role than the guide's, so missing paths answer 404 rather than 403. */
const wideRole = "client-test-role";
let setUp: Promise<void> | undefined;
function setUpWideRole(): Promise<void> {
  return setUp ??= (async () => {
    await env.bao.api("PUT", "sys/policies/acl/client-test-policy", {
      policy:
        'path "demo-kv/data/*" { capabilities = ["read"] }\npath "client-kv1/*" { capabilities = ["read"] }\n',
    });
    await env.bao.api("PUT", `auth/kubernetes_local/role/${wideRole}`, {
      bound_service_account_names: GUIDE.serviceAccount,
      bound_service_account_namespaces: GUIDE.namespace,
      policies: "client-test-policy",
      ttl: "10m",
    });
    // Five versions of one secret, so version 4 exists and version 9 does not.
    for (let v = 1; v <= 5; v++) {
      await env.bao.api("PUT", "demo-kv/data/client-versions", { data: { DB_PASS: `pass-v${v}` } });
    }
    await env.bao.api("POST", "sys/mounts/client-kv1", { type: "kv", options: { version: "1" } });
    await env.bao.api("PUT", "client-kv1/legacy", { API_KEY: "kv1-value", PORT: 5432 });
  })();
}

Deno.test("a ServiceAccount token logs in at kubernetes_local and reads the guide's secret", async () => {
  const c = client();
  try {
    const jwt = await env.kube.tokenFor(GUIDE.namespace, GUIDE.serviceAccount);
    const login = await c.login(p("kubernetes_local"), GUIDE.role, jwt);
    assert(login.token.length > 0);
    assertEquals(login.leaseSeconds, 600); // the guide's ttl=10m
    const secret = await c.read(p(GUIDE.secretPath));
    assertEquals(secret.kv, 2);
    assertEquals(secretValue(secret, "DB_PASS", c.address), "secret-password");
    assertEquals(secretValue(secret, "DB_USER", c.address), "username");
  } finally {
    c.close();
  }
});

Deno.test("the same token logs in through the second auth path remote-kube-1", async () => {
  const c = client();
  try {
    const jwt = await env.kube.tokenFor(GUIDE.namespace, GUIDE.serviceAccount);
    await c.login(p("remote-kube-1"), GUIDE.role, jwt);
    assertEquals((await c.read(p(GUIDE.secretPath))).data, { ...GUIDE.data });
  } finally {
    c.close();
  }
});

Deno.test("a token of another ServiceAccount is refused with permission_denied", async () => {
  await env.kube.api("POST", `/api/v1/namespaces/${GUIDE.namespace}/serviceaccounts`, {
    metadata: { name: "intruder-sa" },
  }, [409]);
  const jwt = await env.kube.tokenFor(GUIDE.namespace, "intruder-sa");
  const c = client();
  try {
    const e = await expectKind(
      c.login(p("kubernetes_local"), GUIDE.role, jwt),
      "permission_denied",
    );
    assertStringIncludes(e.message, "auth/kubernetes_local/login");
    assert(!e.message.includes(jwt), "the JWT must never appear in an error");
  } finally {
    c.close();
  }
});

Deno.test("an unknown role is a bad_request naming the login path", async () => {
  const jwt = await env.kube.tokenFor(GUIDE.namespace, GUIDE.serviceAccount);
  const c = client();
  try {
    const e = await expectKind(c.login(p("kubernetes_local"), "no-such-role", jwt), "bad_request");
    assertStringIncludes(e.message, "role");
  } finally {
    c.close();
  }
});

Deno.test("a path outside the policy is permission_denied and names the path", async () => {
  const c = await loggedIn(GUIDE.role);
  try {
    const e = await expectKind(c.read(p("demo-kv/data/other-team")), "permission_denied");
    assertEquals(e.path, "demo-kv/data/other-team");
    assert(
      e.message.includes("demo-kv/data/other-team") && e.message.includes(env.bao.address),
      e.message,
    );
  } finally {
    c.close();
  }
});

Deno.test("a missing path, a missing version and a missing key are not_found", async () => {
  await setUpWideRole();
  const c = await loggedIn(wideRole);
  try {
    await expectKind(c.read(p("demo-kv/data/does-not-exist")), "not_found");
    const e = await expectKind(
      c.read(p("demo-kv/data/client-versions"), { version: 9 }),
      "not_found",
    );
    assertEquals(e.version, 9);
    const secret = await c.read(p("demo-kv/data/client-versions"));
    const k = assertThrows(() => secretValue(secret, "NOPE", c.address), StoreError);
    assertEquals([k.kind, k.key, k.path], ["not_found", "NOPE", "demo-kv/data/client-versions"]);
  } finally {
    c.close();
  }
});

Deno.test("a version selects that KV v2 version", async () => {
  await setUpWideRole();
  const c = await loggedIn(wideRole);
  try {
    assertEquals(
      secretValue(await c.read(p("demo-kv/data/client-versions"), { version: 4 }), "DB_PASS", ""),
      "pass-v4",
    );
    assertEquals(
      secretValue(await c.read(p("demo-kv/data/client-versions")), "DB_PASS", ""),
      "pass-v5",
    );
  } finally {
    c.close();
  }
});

Deno.test("a KV v1 mount reads from data, and refuses a version", async () => {
  await setUpWideRole();
  const c = await loggedIn(wideRole);
  try {
    const s = await c.read(p("client-kv1/legacy"));
    assertEquals(s.kv, 1);
    assertEquals(secretValue(s, "API_KEY", ""), "kv1-value");
    assertEquals(secretValue(s, "PORT", ""), "5432");
    await expectKind(c.read(p("client-kv1/legacy"), { version: 2 }), "bad_request");
  } finally {
    c.close();
  }
});

Deno.test("an OpenBao namespace is used for login and reads via X-Vault-Namespace", async () => {
  const ns = "team-a";
  await env.bao.api("POST", `sys/namespaces/${ns}`, {});
  await env.bao.api("POST", "sys/mounts/app-kv", { type: "kv", options: { version: "2" } }, ns);
  await env.bao.api("PUT", "app-kv/data/config", { data: { TOKEN: "in-namespace" } }, ns);
  await env.bao.api("PUT", "sys/policies/acl/ns-read", {
    policy: 'path "app-kv/data/config" { capabilities = ["read"] }',
  }, ns);
  await enableKubeAuth(env.bao, env.kube, "kubernetes_local", ns);
  await env.bao.api("PUT", "auth/kubernetes_local/role/ns-role", {
    bound_service_account_names: GUIDE.serviceAccount,
    bound_service_account_namespaces: GUIDE.namespace,
    policies: "ns-read",
  }, ns);
  const jwt = await env.kube.tokenFor(GUIDE.namespace, GUIDE.serviceAccount);

  const inNs = client({ namespace: ns });
  const root = client();
  try {
    await inNs.login(p("kubernetes_local"), "ns-role", jwt);
    assertEquals(
      secretValue(await inNs.read(p("app-kv/data/config")), "TOKEN", ""),
      "in-namespace",
    );
    // Without the namespace the role does not exist at the root.
    const e = await assertRejects(
      () => root.login(p("kubernetes_local"), "ns-role", jwt),
      StoreError,
    );
    assertArrayIncludes(["bad_request", "permission_denied"], [e.kind], e.message);
  } finally {
    inNs.close();
    root.close();
  }
});

Deno.test("a wrong CA is a tls error; skip-verify connects anyway", async () => {
  const other = await Deno.readTextFile(env.kube.caFile); // a valid CA, just not the store's
  const wrong = client({ caCert: other, retries: 0 });
  const skip = client({ caCert: undefined, skipVerify: true });
  try {
    const e = await expectKind(wrong.read(p(GUIDE.secretPath)), "tls");
    assertStringIncludes(e.message, env.bao.address);
    // No token: the request reaches the server and is refused by policy, not by TLS.
    await expectKind(skip.read(p(GUIDE.secretPath)), "permission_denied");
  } finally {
    wrong.close();
    skip.close();
  }
});

Deno.test("a store that accepts but never answers gives a timeout error", async () => {
  // Stand-in: a TCP listener that never replies, since a real server cannot be told to hang.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) held.push(conn);
  })();
  const port = (listener.addr as Deno.NetAddr).port;
  const c = new StoreClient({
    address: parseStoreAddress(`http://127.0.0.1:${port}`, { allowInsecureHttp: true }),
    requestTimeoutMs: 200,
    retries: 1,
    backoffMs: 10,
  });
  try {
    const e = await expectKind(c.read(p(GUIDE.secretPath)), "timeout");
    assertStringIncludes(e.message, GUIDE.secretPath);
  } finally {
    c.close();
    listener.close();
    held.forEach((h) => h.close());
    await accepting.catch(() => {});
  }
});

Deno.test("503 and 429 are retried with backoff; 403 is not retried", async () => {
  // Stand-in: a real OpenBao cannot be made to answer 503/429 on demand.
  const answers = [503, 429, 200];
  let reads = 0;
  let denied = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    // A store without the engine lookup: the answer's shape decides.
    if (new URL(req.url).pathname.startsWith("/v1/sys/internal/ui/mounts/")) {
      return Response.json({ errors: [] }, { status: 404 });
    }
    if (new URL(req.url).pathname.endsWith("/denied")) {
      denied++;
      return Response.json({ errors: ["permission denied"] }, { status: 403 });
    }
    const status = answers[reads++] ?? 200;
    return status === 200
      ? Response.json({ data: { data: { K: "v" }, metadata: { version: 1 } } })
      : Response.json({ errors: ["busy"] }, { status });
  });
  const c = new StoreClient({
    address: parseStoreAddress(`http://127.0.0.1:${server.addr.port}`, { allowInsecureHttp: true }),
    retries: 3,
    backoffMs: 5,
  });
  try {
    assertEquals((await c.read(p("kv/data/busy"))).data, { K: "v" });
    assertEquals(reads, 3);
    await expectKind(c.read(p("kv/data/denied")), "permission_denied");
    assertEquals(denied, 1);
  } finally {
    c.close();
    await server.shutdown();
  }
});

Deno.test("a huge answer from the store is refused at the body limit, not buffered", async () => {
  // Stand-in: a real OpenBao cannot be made to send an endless body.
  let sent = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    if (new URL(req.url).pathname.startsWith("/v1/sys/internal/ui/mounts/")) {
      return Response.json({ errors: [] }, { status: 404 });
    }
    const chunk = new TextEncoder().encode(" ".repeat(64 * 1024));
    return new Response(
      new ReadableStream({
        // It ends at 32 MiB, so a client without a limit fails this test instead of hanging.
        pull(c) {
          if (sent >= 32 * 1024 * 1024) return c.close();
          sent += chunk.length;
          c.enqueue(chunk);
        },
      }),
      { headers: { "content-type": "application/json" } },
    );
  });
  const c = new StoreClient({
    address: parseStoreAddress(`http://127.0.0.1:${server.addr.port}`, { allowInsecureHttp: true }),
    retries: 0,
  });
  try {
    const e = await assertRejects(() => c.read(p("kv/data/endless")), StoreError);
    assertEquals(e.kind, "unreachable");
    assertStringIncludes(e.message, "larger than");
    // Well under twice the limit was sent before the client stopped reading.
    assert(sent < 2 * 8 * 1024 * 1024, `${sent} bytes sent`);
  } finally {
    c.close();
    await server.shutdown();
  }
});

/** A path-routing proxy in front of the real OpenBao (tests/harness/path_proxy.ts), a
 * stand-in for an operator's ingress that publishes the store under /vault. */
const proxy = (tls: boolean) => proxyInFront(env.bao, env.dir, "client-proxy", tls);

Deno.test("an address with a path prefix reaches OpenBao through a path-routing proxy; without it the proxy answers 404", async () => {
  const px = await proxy(true);
  const jwt = await env.kube.tokenFor(GUIDE.namespace, GUIDE.serviceAccount);
  const through = client({
    address: parseStoreAddress(`${px.origin}/vault/`, { allowInsecureHttp: false }),
    caCert: px.caCert,
  });
  const bare = client({
    address: parseStoreAddress(px.origin, { allowInsecureHttp: false }),
    caCert: px.caCert,
    retries: 0,
  });
  try {
    await through.login(p("kubernetes_local"), GUIDE.role, jwt);
    assertEquals((await through.read(p(GUIDE.secretPath))).data, { ...GUIDE.data });
    assertEquals(px.seen, [
      "POST /vault/v1/auth/kubernetes_local/login",
      `GET /vault/v1/sys/internal/ui/mounts/${GUIDE.secretPath}`,
      `GET /vault/v1/${GUIDE.secretPath}`,
    ]);
    const e = await expectKind(bare.login(p("kubernetes_local"), GUIDE.role, jwt), "not_found");
    assertEquals(px.seen.at(-1), "POST /v1/auth/kubernetes_local/login");
    assertStringIncludes(e.message, px.origin);
  } finally {
    through.close();
    bare.close();
    await px.close();
  }
});

Deno.test("a version and an encoded segment go through the prefix as a query and %XX", async () => {
  await setUpWideRole();
  await env.bao.api("PUT", "demo-kv/data/client@versions", { data: { K: "at-1" } });
  await env.bao.api("PUT", "demo-kv/data/client@versions", { data: { K: "at-2" } });
  const px = await proxy(true);
  const c = client({
    address: parseStoreAddress(`${px.origin}/vault`, { allowInsecureHttp: false }),
    caCert: px.caCert,
  });
  try {
    await c.login(
      p("kubernetes_local"),
      wideRole,
      await env.kube.tokenFor(GUIDE.namespace, GUIDE.serviceAccount),
    );
    const s = await c.read(p("demo-kv/data/client@versions"), { version: 1 });
    assertEquals(secretValue(s, "K", c.address), "at-1");
    assertEquals(px.seen.at(-1), "GET /vault/v1/demo-kv/data/client%40versions?version=1");
  } finally {
    c.close();
    await px.close();
  }
});

Deno.test("plain http is refused unless allowed; allowed, it reaches the store and is logged", async () => {
  const px = await proxy(false);
  const address = `${px.origin}/vault`;
  const lines: string[] = [];
  try {
    const e = assertThrows(
      () => parseStoreAddress(address, { allowInsecureHttp: false }),
      TypeError,
    );
    assertStringIncludes(e.message, "connection.allowInsecureHttp");
    const c = new StoreClient({
      address: parseStoreAddress(address, { allowInsecureHttp: true }),
      logger: { warn: (m) => lines.push(m), info() {}, debug() {}, error() {} },
    });
    try {
      await c.login(
        p("kubernetes_local"),
        GUIDE.role,
        await env.kube.tokenFor(GUIDE.namespace, GUIDE.serviceAccount),
      );
      assertEquals((await c.read(p(GUIDE.secretPath))).data, { ...GUIDE.data });
    } finally {
      c.close();
    }
    assert(lines.some((l) => l.includes("plain http")), lines.join("\n"));
  } finally {
    await px.close();
  }
});

Deno.test("a redirect from the store is not followed, so the token never reaches its target", async () => {
  // Stand-ins: OpenBao cannot be told to redirect.
  const hits: string[] = [];
  const target = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    hits.push(req.headers.get("x-vault-token") ?? "");
    return Response.json({ data: { data: { K: "v" }, metadata: {} } });
  });
  const redirector = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () =>
      new Response(null, {
        status: 307,
        headers: { location: `http://127.0.0.1:${target.addr.port}/v1/kv/data/x` },
      }),
  );
  const c = new StoreClient({
    address: parseStoreAddress(`http://127.0.0.1:${redirector.addr.port}`, {
      allowInsecureHttp: true,
    }),
    retries: 0,
  });
  c.token = "a-store-token";
  try {
    const e = await expectKind(c.read(p("kv/data/x")), "bad_response");
    assertStringIncludes(e.message, "not followed");
    assertEquals(hits, []);
  } finally {
    c.close();
    await target.shutdown();
    await redirector.shutdown();
  }
});

/** Requests in OpenBao's audit log as "<operation> <path>", from line `from` on. */
async function audited(from = 0): Promise<string[]> {
  return (await Deno.readTextFile(env.bao.auditLog)).trim().split("\n").slice(from)
    .map((l) => JSON.parse(l)).filter((e) => e.type === "request")
    .map((e) => `${e.request.operation} ${e.request.path}`);
}
const auditLines = async () =>
  (await Deno.readTextFile(env.bao.auditLog)).trim().split("\n").length;

Deno.test("a deleted and a destroyed KV v2 version are named as such, with the version and the deletion time", async () => {
  await setUpWideRole();
  const path = "demo-kv/data/client-gone";
  for (let v = 1; v <= 3; v++) await env.bao.api("PUT", path, { data: { K: `v${v}` } });
  await env.bao.api("DELETE", path); // the latest: version 3
  await env.bao.api("POST", "demo-kv/delete/client-gone", { versions: [1] });
  await env.bao.api("PUT", "demo-kv/destroy/client-gone", { versions: [2] });
  const meta = await env.bao.api("GET", "demo-kv/metadata/client-gone");
  const versions = (meta.data as { versions: Record<string, { deletion_time: string }> }).versions;
  const c = await loggedIn(wideRole);
  try {
    const at = env.bao.address;
    const latest = await expectKind(c.read(p(path)), "not_found");
    assertEquals(
      latest.message,
      `Cannot read ${path} from ${at}: not found: version 3 was deleted at ${
        versions["3"]!.deletion_time
      } (it can be undeleted) (HTTP 404)`,
    );
    const first = await expectKind(c.read(p(path), { version: 1 }), "not_found");
    assertEquals(
      first.message,
      `Cannot read ${path} version 1 from ${at}: not found: version 1 was deleted at ${
        versions["1"]!.deletion_time
      } (it can be undeleted) (HTTP 404)`,
    );
    const destroyed = await expectKind(c.read(p(path), { version: 2 }), "not_found");
    assertEquals(
      destroyed.message,
      `Cannot read ${path} version 2 from ${at}: not found: version 2 was destroyed; its data is gone (HTTP 404)`,
    );
    assert(versions["1"]!.deletion_time !== "", "OpenBao gave no deletion time");
  } finally {
    c.close();
  }
});

Deno.test("a KV v2 path without data/ says which path to use, under the guide's read-only policy, with one engine lookup", async () => {
  const c = await loggedIn(GUIDE.role);
  try {
    const mark = await auditLines();
    const at = env.bao.address;
    for (const wrong of ["demo-kv/myapp-secret", "demo-kv/metadata/myapp-secret"]) {
      const e = await expectKind(c.read(p(wrong)), "bad_request");
      assertEquals(
        e.message,
        `Cannot read ${wrong} from ${at}: bad request: demo-kv/ is a KV v2 mount, where secrets are read at demo-kv/data/<name>: use demo-kv/data/myapp-secret`,
      );
    }
    // myapp-ro-policy allows only a read of demo-kv/data/myapp-secret, and that is enough for
    // the store to say which engine serves demo-kv/.
    const s = await c.read(p(GUIDE.secretPath));
    assertEquals([s.kv, secretValue(s, "DB_PASS", "")], [2, "secret-password"]);
    assertEquals(await audited(mark), [
      "read sys/internal/ui/mounts/demo-kv/myapp-secret",
      "read demo-kv/data/myapp-secret",
    ]);
  } finally {
    c.close();
  }
});

Deno.test("a KV v1 secret holding data and metadata keys is read as KV v1", async () => {
  await setUpWideRole();
  await env.bao.api("PUT", "client-kv1/shaped", {
    data: { DB_PASS: "inner" },
    metadata: { owner: "team-a" },
  });
  const c = await loggedIn(wideRole);
  try {
    const s = await c.read(p("client-kv1/shaped"));
    assertEquals(s.kv, 1);
    assertEquals(secretValue(s, "data", ""), '{"DB_PASS":"inner"}');
    assertEquals(secretValue(s, "metadata", ""), '{"owner":"team-a"}');
  } finally {
    c.close();
  }
});

Deno.test("when the engine lookup is refused the answer's shape decides, and the store's warning is in the error", async () => {
  await setUpWideRole();
  const proxy = await startPathProxy({
    target: env.bao.address,
    targetCa: env.bao.caCert,
    prefix: "/vault",
    answer: (path) => path.startsWith("/v1/sys/internal/ui/mounts/") ? 403 : undefined,
  });
  const c = client({
    address: parseStoreAddress(`${proxy.origin}/vault`, { allowInsecureHttp: true }),
  });
  try {
    c.token = env.bao.rootToken; // a token allowed everything: only the proxy refuses
    assertEquals((await c.read(p("demo-kv/data/client-versions"))).kv, 2);
    assertEquals((await c.read(p("client-kv1/legacy"))).kv, 1);
    const e = await expectKind(c.read(p("demo-kv/client-versions")), "not_found");
    assertEquals(
      e.message,
      `Cannot read demo-kv/client-versions from ${proxy.origin}/vault: not found: store warning: Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the OpenBao CLI, use 'bao kv get' for this operation. (HTTP 404)`,
    );
    assert(!e.message.includes(env.bao.rootToken));
  } finally {
    c.close();
    await proxy.close();
  }
});
