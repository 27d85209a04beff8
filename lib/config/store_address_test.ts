import { assertEquals, assertStringIncludes, assertThrows } from "../../tests/harness/assert.ts";
import { parseStoreAddress, storeUrl } from "./store_address.ts";
import { parseStorePath } from "./store_path.ts";

const STRICT = { allowInsecureHttp: false };
const LAX = { allowInsecureHttp: true };

Deno.test("parseStoreAddress() keeps an https origin and a path prefix without its trailing /", () => {
  assertEquals(parseStoreAddress("https://stronghold.d8-stronghold.svc:8300", STRICT), {
    origin: "https://stronghold.d8-stronghold.svc:8300",
    prefix: "",
    insecure: false,
    text: "https://stronghold.d8-stronghold.svc:8300",
  });
  const a = parseStoreAddress("https://proxy.example/vault/", STRICT);
  assertEquals([a.origin, a.prefix, a.text], [
    "https://proxy.example",
    "/vault",
    "https://proxy.example/vault",
  ]);
});

Deno.test("parseStoreAddress() refuses plain http unless the installation allows it, naming the switch", () => {
  const e = assertThrows(() => parseStoreAddress("http://store:8200", STRICT), TypeError);
  assertStringIncludes(e.message, 'Invalid store address "http://store:8200"');
  assertStringIncludes(e.message, "connection.allowInsecureHttp: true");
  assertEquals(parseStoreAddress("http://store:8200", LAX).insecure, true);
});

Deno.test("parseStoreAddress() refuses other schemes, credentials, a query and a fragment", () => {
  const cases: Array<[string, string]> = [
    ["stronghold:8200", "it has no scheme: write https://host[:port][/prefix]"],
    ["10.0.0.1:8200", "it has no scheme: write https://host[:port][/prefix]"],
    ["stronghold.d8-stronghold.svc", "it has no scheme: write https://host[:port][/prefix]"],
    ["ftp://store", "the scheme must be https"],
    ["not a url", "it has no scheme"],
    ["", "it has no scheme"],
    ["https://", "expected https://host"],
    ["https://user:pass@store:8200", "user name or password"],
    ["https://user@store:8200", "user name or password"],
    ["https://store:8200/?x=1", "query"],
    ["https://store:8200?", "query"],
    ["https://store:8200/#frag", "fragment"],
    ["https://store:8200#", "fragment"],
  ];
  for (const [raw, why] of cases) {
    for (const o of [STRICT, LAX]) {
      const e = assertThrows(() => parseStoreAddress(raw, o), TypeError);
      assertStringIncludes(e.message, why);
    }
  }
  // The password is refused, and never echoed back in full by anything but the raw input.
  assertStringIncludes(
    assertThrows(() => parseStoreAddress("https://u:p@store", STRICT), TypeError).message,
    "Invalid store address",
  );
});

Deno.test("storeUrl() keeps the prefix, puts /v1/ after it, encodes segments and the query", () => {
  const a = parseStoreAddress("https://proxy.example/vault", STRICT);
  assertEquals(
    storeUrl(a, parseStorePath("demo-kv/data/myapp-secret"), new URLSearchParams({ version: "4" }))
      .href,
    "https://proxy.example/vault/v1/demo-kv/data/myapp-secret?version=4",
  );
  assertEquals(
    storeUrl(parseStoreAddress("https://s:8200", STRICT), parseStorePath("kv/data/a@b:c")).href,
    "https://s:8200/v1/kv/data/a%40b%3Ac",
  );
  assertEquals(
    storeUrl(a, parseStorePath("x"), new URLSearchParams()).href,
    "https://proxy.example/vault/v1/x",
  );
});
