import { assertEquals, assertStringIncludes } from "../../tests/harness/assert.ts";
import type { Logger } from "../log/logger.ts";
import { StoreClient } from "./client.ts";
import { parseStoreAddress } from "./store_address.ts";
import { parseStorePath } from "./store_path.ts";
import type { HttpResult, Transport } from "./transport.ts";

/** A transport that records the URLs it is given and answers like KV v2. */
function recording(): { transport: Transport; urls: string[] } {
  const urls: string[] = [];
  return {
    urls,
    transport: {
      request(_method, url): Promise<HttpResult> {
        urls.push(url.href);
        const body = url.pathname.endsWith("/login")
          ? { auth: { client_token: "t", lease_duration: 60, renewable: false } }
          : { data: { data: { K: "v" }, metadata: { version: 1 } } };
        return Promise.resolve({ status: 200, body: JSON.stringify(body) });
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
    "https://proxy.example/vault/v1/demo-kv/data/myapp-secret?version=4",
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
