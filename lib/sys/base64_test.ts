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
