import { assertEquals } from "../../tests/harness/assert.ts";
import { willUseStoreTls } from "./store_tls.ts";

const HTTPS = { SECRETS_STORE_ADDR: "https://stronghold.d8-stronghold.svc:8300" };

Deno.test("willUseStoreTls() says yes for an https store and a whole-value reference", () => {
  assertEquals(willUseStoreTls({ ...HTTPS, DB: "secrets-store:demo-kv/data/app#PASS" }), true);
});

Deno.test("willUseStoreTls() says yes for an inline reference and for env-from-path", () => {
  assertEquals(
    willUseStoreTls({ ...HTTPS, URL: "pg://u:${secrets-store:demo-kv/data/app#PASS}@db" }),
    true,
  );
  assertEquals(
    willUseStoreTls({ ...HTTPS, SECRETS_STORE_ENV_FROM_PATH: "demo-kv/data/app" }),
    true,
  );
});

Deno.test("willUseStoreTls() says no when nothing refers to the store", () => {
  assertEquals(willUseStoreTls({ ...HTTPS, PATH: "/bin", HOME: "/root" }), false);
  assertEquals(willUseStoreTls({ ...HTTPS, SECRETS_STORE_ENV_FROM_PATH: "  " }), false);
});

Deno.test("willUseStoreTls() says no for a plain http store or none at all", () => {
  const ref = { DB: "secrets-store:demo-kv/data/app#PASS" };
  assertEquals(willUseStoreTls({ SECRETS_STORE_ADDR: "http://127.0.0.1:8200", ...ref }), false);
  assertEquals(willUseStoreTls(ref), false);
  assertEquals(willUseStoreTls({ SECRETS_STORE_ADDR: " HTTPS://store:8200 ", ...ref }), true);
});
