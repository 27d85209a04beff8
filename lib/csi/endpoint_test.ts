import { assertRejects, assertStringIncludes } from "../../tests/harness/assert.ts";
import { silentLogger } from "../log/logger.ts";
import { serveGrpc } from "./endpoint.ts";

Deno.test("a socket path too long for a unix socket is refused by name, not with EINVAL", async () => {
  const path = `/tmp/${"d".repeat(100)}/csi.sock`;
  const e = await assertRejects(() => serveGrpc(path, [], silentLogger), TypeError);
  assertStringIncludes(e.message, `${path} is 114 bytes; a unix socket allows 107`);
});
