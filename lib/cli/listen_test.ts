import { assertEquals, assertThrows } from "../../tests/harness/assert.ts";
import { parseListen } from "./listen.ts";

Deno.test("parseListen() reads host:port, [v6]:port and :port", () => {
  assertEquals(parseListen("--listen", "127.0.0.1:8443"), { hostname: "127.0.0.1", port: 8443 });
  assertEquals(parseListen("--listen", "[::1]:9808"), { hostname: "::1", port: 9808 });
  assertEquals(parseListen("--listen", "[::]:0"), { hostname: "::", port: 0 });
  assertEquals(parseListen("--listen", ":8080"), { hostname: "0.0.0.0", port: 8080 });
  assertEquals(parseListen("--listen", "node.local:1"), { hostname: "node.local", port: 1 });
});

Deno.test("parseListen() refuses a value without a numeric port, naming the flag and the value", () => {
  for (const bad of ["8443", "host:", "host:http", "", "host:84a3"]) {
    const e = assertThrows(() => parseListen("--health-listen", bad), TypeError);
    assertEquals(e.message, `Invalid --health-listen "${bad}": expected host:port`);
  }
  const e = assertThrows(() => parseListen("--listen", "x", "0.0.0.0:8443"), TypeError);
  assertEquals(e.message, `Invalid --listen "x": expected host:port, e.g. 0.0.0.0:8443`);
});

Deno.test("parseListen() refuses a port over 65535", () => {
  const e = assertThrows(() => parseListen("--listen", "0.0.0.0:65536"), TypeError);
  assertEquals(e.message, `Invalid --listen "0.0.0.0:65536": the port is over 65535`);
});
