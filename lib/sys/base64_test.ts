import { assertEquals } from "../../tests/harness/assert.ts";
import { base64Utf8 } from "./base64.ts";

Deno.test("base64Utf8() encodes any text as UTF-8, also what btoa refuses or garbles", () => {
  assertEquals(base64Utf8("user:pa55"), btoa("user:pa55"));
  for (const text of ["é", "пароль", "🔑 key", "x".repeat(300_000)]) {
    const bytes = Uint8Array.from(atob(base64Utf8(text)), (c) => c.charCodeAt(0));
    assertEquals(new TextDecoder().decode(bytes), text);
  }
});

Deno.test("base64Utf8() gives each text its own encoding, whatever came before", () => {
  // The bytes go through a kept buffer: a short text after a long one must not carry its tail.
  const long = "long-credential:".repeat(100);
  assertEquals(atob(base64Utf8(long)), long);
  assertEquals(atob(base64Utf8("a:b")), "a:b");
  assertEquals(base64Utf8(""), "");
  // A character split across the buffer's end is not cut: the whole text is encoded.
  const edge = "x".repeat(64 * 1024 - 1) + "🔑";
  const bytes = Uint8Array.from(atob(base64Utf8(edge)), (c) => c.charCodeAt(0));
  assertEquals(new TextDecoder().decode(bytes), edge);
});

Deno.test("base64Utf8() leaves only zeros in its kept buffer after encoding a credential", () => {
  // The kept buffer is private: catch it as the destination the encoder writes into.
  const original = TextEncoder.prototype.encodeInto;
  const destinations: Uint8Array[] = [];
  TextEncoder.prototype.encodeInto = function (text, dest) {
    destinations.push(dest);
    return original.call(this, text, dest);
  };
  try {
    assertEquals(atob(base64Utf8("user:s3cr3t-pa55")), "user:s3cr3t-pa55");
    base64Utf8("é-пароль");
    // Larger than the buffer: encoded elsewhere, but the part that went in is cleared too.
    const large = "k".repeat(64 * 1024) + ":long-token";
    assertEquals(atob(base64Utf8(large)), large);
  } finally {
    TextEncoder.prototype.encodeInto = original;
  }
  // The first destination is the kept buffer; Buffer.from() may write into buffers of its own.
  const kept = destinations[0]!;
  assertEquals(destinations.filter((d) => d === kept).length, 3, "every call used the kept buffer");
  assertEquals(kept.findIndex((b) => b !== 0), -1, "a byte of a credential is still there");
});
