import { assertEquals, assertThrows } from "../../tests/harness/assert.ts";
import { checkAbsolutePath, parseUnixEndpoint } from "./paths.ts";

Deno.test("parseUnixEndpoint() takes unix:///path and a plain absolute path", () => {
  assertEquals(parseUnixEndpoint("--endpoint", "unix:///csi/csi.sock"), "/csi/csi.sock");
  assertEquals(parseUnixEndpoint("--endpoint", "/csi/csi.sock"), "/csi/csi.sock");
});

Deno.test("parseUnixEndpoint() refuses other schemes and relative paths, naming the flag", () => {
  const cases: Array<[string, string]> = [
    ["tcp://127.0.0.1:10000", "only unix sockets are served"],
    ["TCP://x:1", "only unix sockets are served"],
    ["http://x/csi.sock", "only unix sockets are served"],
    ["unix:/csi.sock", "write unix:///path/to/csi.sock"],
    ["unix://csi/csi.sock", "expected an absolute path"],
    ["unix://", "expected an absolute path"],
    ["csi.sock", "expected an absolute path"],
    ["", "expected an absolute path"],
    ["unix:///csi/../etc/x.sock", "expected a normalised path"],
    ["/csi//csi.sock", "expected a normalised path"],
    ["/csi/", "expected a normalised path"],
    ["/csi/a\u0000b", "control character"],
    [`/${"a".repeat(120)}`, "a unix socket allows 107"],
  ];
  for (const [value, why] of cases) {
    const e = assertThrows(() => parseUnixEndpoint("--endpoint", value), TypeError);
    assertEquals(
      e.message.startsWith(`Invalid --endpoint ${JSON.stringify(value)}: `),
      true,
      e.message,
    );
    assertEquals(e.message.includes(why), true, `${value}: ${e.message}`);
  }
});

Deno.test("checkAbsolutePath() accepts / and normalised absolute paths only", () => {
  assertEquals(checkAbsolutePath("--state-dir", "/"), "/");
  assertEquals(checkAbsolutePath("--state-dir", "/var/lib/x"), "/var/lib/x");
  for (const bad of ["var/lib", "./x", "/a/./b", "/a/", "~/x"]) {
    const e = assertThrows(() => checkAbsolutePath("--state-dir", bad), TypeError);
    assertEquals(e.message.startsWith(`Invalid --state-dir ${JSON.stringify(bad)}: `), true);
  }
});
