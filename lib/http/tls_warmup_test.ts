import { assertEquals } from "../../tests/harness/assert.ts";
import { warmTlsRandom } from "./tls_warmup.ts";

Deno.test("warmTlsRandom() returns at once and settles without a value", async () => {
  const pending = warmTlsRandom();
  assertEquals(pending instanceof Promise, true);
  assertEquals(await pending, undefined);
});

Deno.test("warmTlsRandom() neither throws nor rejects when Web Crypto fails", async () => {
  // Stand-ins for a runtime whose generateKey refuses or that has no Web Crypto: the injector
  // never waits for the warm-up, so a rejection would end it as an unhandled one.
  const refusing = () => ({ generateKey: () => Promise.reject(new Error("refused")) });
  assertEquals(await warmTlsRandom(refusing), undefined);
  const missing = (): Pick<SubtleCrypto, "generateKey"> => {
    throw new TypeError("crypto.subtle is not defined");
  };
  assertEquals(await warmTlsRandom(missing), undefined);
});
