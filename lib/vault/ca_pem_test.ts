import { assertEquals, assertThrows } from "../../tests/harness/assert.ts";
import { parseCaPem } from "./ca_pem.ts";

Deno.test("parseCaPem() refuses text without a certificate and a block that does not decode", () => {
  assertEquals(
    assertThrows(() => parseCaPem("/etc/ssl/ca.crt"), TypeError).message,
    "it is not a PEM certificate (no -----BEGIN CERTIFICATE----- line)",
  );
  const broken = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
  assertEquals(
    assertThrows(() => parseCaPem(broken), TypeError).message.startsWith(
      "it holds a certificate that cannot be read: ",
    ),
    true,
  );
});
