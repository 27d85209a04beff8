import { assertEquals } from "../../tests/harness/assert.ts";
import { base64Utf8 } from "./base64.ts";

Deno.test("base64Utf8() encodes any text as UTF-8, also what btoa refuses or garbles", () => {
  assertEquals(base64Utf8("user:pa55"), btoa("user:pa55"));
  for (const text of ["é", "пароль", "🔑 key", "x".repeat(300_000)]) {
    const bytes = Uint8Array.from(atob(base64Utf8(text)), (c) => c.charCodeAt(0));
    assertEquals(new TextDecoder().decode(bytes), text);
  }
});
