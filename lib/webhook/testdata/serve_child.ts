/** A serveHttps() server in a process of its own, for the tests that need its resource
 * limits lowered (server_test.ts, with prlimit): prints its port, then serves until killed.
 * /readyz answers as the webhook's does (routes.ts); every other path echoes itself.
 * Args: <cert file> <key file> <handshake timeout ms>. */
import { createLogger } from "../../log/logger.ts";
import { readinessRoute } from "../routes.ts";
import { serveHttps } from "../server.ts";

const [certFile, keyFile, handshakeMs] = Deno.args;
let accepting = () => false;
const ready = readinessRoute(() => accepting());
const server = await serveHttps({
  hostname: "127.0.0.1",
  port: 0,
  certFile: certFile!,
  keyFile: keyFile!,
  bodyLimit: 1024,
  limits: { handshakeTimeoutMs: Number(handshakeMs) },
  logger: createLogger({ json: true }),
  handler: (req) => ready(req) ?? { status: 200, contentType: "text/plain", body: req.path },
});
accepting = server.accepting;
console.log(server.port);
