import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "../../tests/harness/assert.ts";
import type { Logger } from "../log/logger.ts";
import { StoreClient } from "./client.ts";
import { StoreError } from "./errors.ts";
import { parseStoreAddress } from "../config/store_address.ts";
import { parseStorePath } from "../config/store_path.ts";
import type { HttpResult, Transport } from "../http/transport.ts";

/** A transport that records the URLs it is given and answers like KV v2 mounts named after
 * the path's first segment (`answer` replaces that for chosen paths). */
function recording(
  answer: (path: string) => HttpResult | undefined = () => undefined,
): { transport: Transport; urls: string[] } {
  const urls: string[] = [];
  return {
    urls,
    transport: {
      async request({ url }): Promise<HttpResult> {
        urls.push(url.href);
        await Promise.resolve(); // answers arrive later, as over a socket
        const path = url.pathname.replace(/^.*?\/v1\//, "");
        const own = answer(path);
        if (own) return own;
        const mount = path.match(/^sys\/internal\/ui\/mounts\/([^/]+)/)?.[1];
        const body = path.endsWith("/login")
          ? { auth: { client_token: "t", lease_duration: 60, renewable: false } }
          : mount
          ? { data: { path: `${mount}/`, type: "kv", options: { version: "2" } } }
          : { data: { data: { K: "v" }, metadata: { version: 1 } } };
        return { status: 200, body: JSON.stringify(body) };
      },
      close() {},
    },
  };
}

Deno.test("StoreClient sends every request under the address prefix, version as a query", async () => {
  const { transport, urls } = recording();
  const c = new StoreClient({
    address: parseStoreAddress("https://proxy.example/vault/", { allowInsecureHttp: false }),
    transport,
  });
  await c.login(parseStorePath("k8s/cluster-1"), "role", "jwt");
  await c.read(parseStorePath("demo-kv/data/myapp-secret"), { version: 4 });
  await c.read(parseStorePath("kv/data/alice@corp"));
  assertEquals(urls, [
    "https://proxy.example/vault/v1/auth/k8s/cluster-1/login",
    "https://proxy.example/vault/v1/sys/internal/ui/mounts/demo-kv/data/myapp-secret",
    "https://proxy.example/vault/v1/demo-kv/data/myapp-secret?version=4",
    "https://proxy.example/vault/v1/sys/internal/ui/mounts/kv/data/alice%40corp",
    "https://proxy.example/vault/v1/kv/data/alice%40corp",
  ]);
  assertEquals(c.address, "https://proxy.example/vault");
});

Deno.test("StoreClient warns when the installation lets it use plain http", () => {
  const lines: string[] = [];
  const log: Logger = { warn: (m) => lines.push(m), debug() {}, info() {}, error() {} };
  new StoreClient({
    address: parseStoreAddress("http://store:8200", { allowInsecureHttp: true }),
    transport: recording().transport,
    logger: log,
  }).close();
  assertStringIncludes(lines.join("\n"), "plain http");
});

Deno.test("StoreClient asks for a mount's engine once, also for reads started together", async () => {
  const { transport, urls } = recording();
  const c = new StoreClient({
    address: parseStoreAddress("https://store:8200", { allowInsecureHttp: false }),
    transport,
  });
  await Promise.all(["a", "b", "c"].map((n) => c.read(parseStorePath(`demo-kv/data/${n}`))));
  await c.read(parseStorePath("demo-kv/data/d"));
  await c.read(parseStorePath("other/data/e"));
  const lookups = urls.filter((u) => u.includes("/sys/internal/ui/mounts/"));
  assertEquals(lookups, [
    "https://store:8200/v1/sys/internal/ui/mounts/demo-kv/data/a",
    "https://store:8200/v1/sys/internal/ui/mounts/other/data/e",
  ]);
  // A mount whose name only starts like a known one is asked for too.
  await c.read(parseStorePath("demo-kv-2/data/f"));
  assertEquals(urls.filter((u) => u.includes("/mounts/demo-kv-2/")).length, 1);
});

Deno.test("StoreClient reads a KV v1 secret holding data and metadata keys as KV v1", async () => {
  const kv1 = { data: { data: { K: "inner" }, metadata: { owner: "team" } } };
  const { transport } = recording((path) =>
    path.startsWith("sys/internal/ui/mounts/")
      ? {
        status: 200,
        body: JSON.stringify({ data: { path: "legacy/", type: "kv", options: {} } }),
      }
      : path === "legacy/app"
      ? { status: 200, body: JSON.stringify(kv1) }
      : undefined
  );
  const c = new StoreClient({
    address: parseStoreAddress("https://store:8200", { allowInsecureHttp: false }),
    transport,
  });
  const s = await c.read(parseStorePath("legacy/app"));
  assertEquals([s.kv, s.data], [1, kv1.data]);
  const e = await assertRejects(
    () => c.read(parseStorePath("legacy/app"), { version: 2 }),
    StoreError,
  );
  assertStringIncludes(e.message, "a version was asked for, but legacy/ is a KV v1 mount");
});

Deno.test("StoreClient tells the engine by the answer only when the store refuses to say", async () => {
  const kv1 = { data: { API_KEY: "k" } };
  const { transport, urls } = recording((path) =>
    path.startsWith("sys/internal/ui/mounts/")
      ? {
        status: 403,
        body: JSON.stringify({ errors: ["preflight capability check returned 403"] }),
      }
      : path.startsWith("legacy/")
      ? { status: 200, body: JSON.stringify(kv1) }
      : undefined
  );
  const c = new StoreClient({
    address: parseStoreAddress("https://store:8200", { allowInsecureHttp: false }),
    transport,
  });
  assertEquals((await c.read(parseStorePath("legacy/app"))).kv, 1);
  assertEquals((await c.read(parseStorePath("demo-kv/data/x"))).kv, 2);
  await c.read(parseStorePath("legacy/app"));
  // Refused once per path, not again.
  assertEquals(urls.filter((u) => u.includes("/mounts/legacy/app")).length, 1);
});

Deno.test("StoreClient logs the store's warnings on an answer, and puts them in an error", async () => {
  const warning = "Invalid path for a versioned K/V secrets engine.";
  const { transport } = recording((path) =>
    path.startsWith("sys/internal/ui/mounts/")
      ? { status: 404, body: "{}" }
      : path === "ok/x"
      ? { status: 200, body: JSON.stringify({ data: { K: "v" }, warnings: ["deprecated"] }) }
      : { status: 404, body: JSON.stringify({ data: null, warnings: [warning] }) }
  );
  const lines: string[] = [];
  const log: Logger = {
    warn: (m, f) => lines.push(`${m} ${JSON.stringify(f)}`),
    debug() {},
    info() {},
    error() {},
  };
  const c = new StoreClient({
    address: parseStoreAddress("https://store:8200", { allowInsecureHttp: false }),
    transport,
    logger: log,
  });
  await c.read(parseStorePath("ok/x"));
  assertEquals(lines, [
    'the store answered with a warning {"path":"ok/x","warning":"deprecated"}',
  ]);
  const e = await assertRejects(() => c.read(parseStorePath("demo-kv/x")), StoreError);
  assertEquals(
    e.message,
    `Cannot read demo-kv/x from https://store:8200: not found: store warning: ${warning} (HTTP 404)`,
  );
});

Deno.test("StoreClient.revokeSelf() sends one request with the token to revoke, never retried", async () => {
  const tokens: Array<string | undefined> = [];
  let status = 204;
  const transport: Transport = {
    async request({ url, headers }): Promise<HttpResult> {
      await Promise.resolve();
      tokens.push(`${url.pathname} ${headers["x-vault-token"]}`);
      return url.pathname.endsWith("/login")
        ? {
          status: 200,
          body: JSON.stringify({
            auth: { client_token: "new", lease_duration: 60, renewable: false },
          }),
        }
        : { status, body: status === 204 ? "" : JSON.stringify({ errors: ["busy"] }) };
    },
    close() {},
  };
  const c = new StoreClient({
    address: parseStoreAddress("https://store.example", { allowInsecureHttp: false }),
    transport,
    backoffMs: 1,
  });
  await c.revokeSelf(); // no login yet: nothing to revoke, nothing sent
  await c.login(parseStorePath("kubernetes_local"), "role", "jwt");
  await c.revokeSelf({ token: "old" });
  assertEquals(c.token, "new", "revoking another token keeps the current one");
  await c.revokeSelf();
  assertEquals(c.token, undefined);
  await c.login(parseStorePath("kubernetes_local"), "role", "jwt");
  status = 503;
  const e = await assertRejects(() => c.revokeSelf(), StoreError);
  assertEquals([e.operation, e.kind], ["revoke", "server_error"]);
  assertStringIncludes(e.message, "Cannot revoke the store token at auth/token/revoke-self");
  assertEquals(tokens, [
    "/v1/auth/kubernetes_local/login undefined",
    "/v1/auth/token/revoke-self old",
    "/v1/auth/token/revoke-self new",
    "/v1/auth/kubernetes_local/login undefined",
    "/v1/auth/token/revoke-self new",
  ]);
});

Deno.test("a token passed to revokeSelf() never reaches the error, even when the store echoes it", async () => {
  const passed = "s.passed-in-token-1234";
  const transport: Transport = {
    async request({ headers }): Promise<HttpResult> {
      await Promise.resolve();
      // A hostile or careless store repeating the credential it was sent.
      const echoed = `token ${headers["x-vault-token"]} is not valid`;
      return { status: 403, body: JSON.stringify({ errors: [echoed], warnings: [echoed] }) };
    },
    close() {},
  };
  const c = new StoreClient({
    address: parseStoreAddress("https://store.example", { allowInsecureHttp: false }),
    transport,
  });
  const e = await assertRejects(() => c.revokeSelf({ token: passed }), StoreError);
  assertEquals(e.kind, "permission_denied");
  assertStringIncludes(e.message, "token <redacted> is not valid");
  assert(!e.message.includes(passed), e.message);
});

/** A transport that answers every request with `answer` and records method, path and body. */
function answering(answer: (body: string | undefined) => HttpResult) {
  const sent: string[] = [];
  const transport: Transport = {
    async request({ method, url, body, headers }): Promise<HttpResult> {
      await Promise.resolve();
      sent.push(`${method} ${url.pathname} ${body} ${headers["x-vault-token"]}`);
      return answer(body);
    },
    close() {},
  };
  const client = new StoreClient({
    address: parseStoreAddress("https://store.example", { allowInsecureHttp: false }),
    transport,
    backoffMs: 1,
  });
  client.token = "s.kept-token";
  return { client, sent };
}

const LEASE = "database/creds/app/x1";

Deno.test("StoreClient.renewLease() sends the lease id and increment in the body and returns the lease as renewed", async () => {
  const { client, sent } = answering(() => ({
    status: 200,
    body: JSON.stringify({ lease_id: LEASE, lease_duration: 4, renewable: true }),
  }));
  assertEquals(await client.renewLease(LEASE, { increment: 6 }), {
    id: LEASE,
    leaseSeconds: 4,
    renewable: true,
  });
  await client.renewLease(LEASE);
  assertEquals(sent, [
    `PUT /v1/sys/leases/renew {"lease_id":"${LEASE}","increment":6} s.kept-token`,
    `PUT /v1/sys/leases/renew {"lease_id":"${LEASE}"} s.kept-token`,
  ]);
});

Deno.test("StoreClient.renewLease() is tried once; its errors name the lease, never the token", async () => {
  const { client, sent } = answering(() => ({
    status: 503,
    body: JSON.stringify({ errors: ["token s.kept-token is sealed away"] }),
  }));
  const e = await assertRejects(() => client.renewLease(LEASE, { increment: 6 }), StoreError);
  assertEquals([e.operation, e.kind, sent.length], ["renew_lease", "server_error", 1]);
  assertStringIncludes(
    e.message,
    `Cannot renew the lease ${LEASE} at sys/leases/renew from https://store.example: server error: token <redacted>`,
  );
  assert(!e.message.includes("s.kept-token"), e.message);
});

Deno.test("StoreClient.renewLease() refuses an answer about another lease, or none", async () => {
  for (const body of [{ lease_id: "database/creds/app/other", lease_duration: 6 }, {}]) {
    const { client } = answering(() => ({ status: 200, body: JSON.stringify(body) }));
    const e = await assertRejects(() => client.renewLease(LEASE), StoreError);
    assertEquals(e.kind, "bad_response");
  }
});

Deno.test("StoreClient.revokeLease() sends one request with the lease id in the body", async () => {
  let status = 204;
  const { client, sent } = answering(() => ({ status, body: "" }));
  await client.revokeLease(LEASE);
  status = 403;
  const e = await assertRejects(() => client.revokeLease(LEASE), StoreError);
  assertEquals([e.operation, e.kind], ["revoke_lease", "permission_denied"]);
  assertStringIncludes(e.message, `Cannot revoke the lease ${LEASE} at sys/leases/revoke`);
  assertEquals(sent, [
    `PUT /v1/sys/leases/revoke {"lease_id":"${LEASE}"} s.kept-token`,
    `PUT /v1/sys/leases/revoke {"lease_id":"${LEASE}"} s.kept-token`,
  ]);
});

Deno.test("StoreClient.read() keeps a dynamic secret's lease and refuses a malformed one", async () => {
  const answer = { lease_id: LEASE, lease_duration: 6, renewable: true, data: { username: "u" } };
  const { transport } = recording((path) =>
    path.startsWith("sys/internal/ui/mounts/")
      ? { status: 200, body: JSON.stringify({ data: { path: "database/", type: "database" } }) }
      : path === "database/creds/app"
      ? { status: 200, body: JSON.stringify(answer) }
      : { status: 200, body: JSON.stringify({ ...answer, lease_duration: "6" }) }
  );
  const c = new StoreClient({
    address: parseStoreAddress("https://store.example", { allowInsecureHttp: false }),
    transport,
  });
  const s = await c.read(parseStorePath("database/creds/app"));
  assertEquals(s.lease, { id: LEASE, leaseSeconds: 6, renewable: true });
  const e = await assertRejects(() => c.read(parseStorePath("database/creds/bad")), StoreError);
  assertEquals(e.kind, "bad_response");
});
