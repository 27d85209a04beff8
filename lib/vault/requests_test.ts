import { assertEquals } from "../../tests/harness/assert.ts";
import { parseStoreAddress } from "../config/store_address.ts";
import { parseStorePath } from "../config/store_path.ts";
import { TransportError } from "../http/transport.ts";
import { StoreClient } from "./client.ts";
import { requestOutcome, RequestTally } from "./requests.ts";

Deno.test("requestOutcome() folds the store error kinds into a few outcomes", () => {
  assertEquals(
    [
      undefined,
      "permission_denied",
      "not_found",
      "rate_limited",
      "timeout",
      "tls",
      "unreachable",
      "bad_request",
      "server_error",
      "bad_response",
    ].map((k) => requestOutcome(k as Parameters<typeof requestOutcome>[0])),
    [
      "ok",
      "denied",
      "not_found",
      "rate_limited",
      "unreachable",
      "unreachable",
      "unreachable",
      "error",
      "error",
      "error",
    ],
  );
});

Deno.test("StoreClient tells its observer of every request it sends, each retry and the engine lookup too", async () => {
  const tally = new RequestTally();
  const seen: string[] = [];
  let attempts = 0;
  const c = new StoreClient({
    address: parseStoreAddress("https://store.example", { allowInsecureHttp: false }),
    backoffMs: 1,
    observe: (operation, outcome, seconds) => {
      seen.push(`${operation} ${outcome}`);
      tally.observe(operation, outcome, seconds);
      if (!(seconds >= 0)) throw new Error(`seconds ${seconds}`);
    },
    transport: {
      request({ url }) {
        const path = url.pathname.slice("/v1/".length);
        const answer = (status: number, body: unknown) =>
          Promise.resolve({ status, body: JSON.stringify(body) });
        if (path.endsWith("/login")) {
          return answer(200, { auth: { client_token: "s.1", lease_duration: 60 } });
        }
        if (path.startsWith("sys/internal/ui/mounts/")) {
          return answer(200, { data: { path: "kv/", type: "kv", options: { version: "2" } } });
        }
        if (path === "kv/data/flaky" && attempts++ < 2) {
          return attempts === 1
            ? answer(503, { errors: ["sealed"] })
            : Promise.reject(new TransportError("unreachable", "connection reset"));
        }
        if (path === "kv/data/gone") return answer(404, { errors: [] });
        if (path === "auth/token/revoke-self") return answer(403, { errors: ["denied"] });
        return answer(200, { data: { data: { K: "v" }, metadata: { version: 1 } } });
      },
      close() {},
    },
  });
  await c.login(parseStorePath("kubernetes_local"), "r", "jwt");
  await c.read(parseStorePath("kv/data/flaky"));
  await c.read(parseStorePath("kv/data/gone")).catch(() => undefined);
  await c.revokeSelf().catch(() => undefined);
  assertEquals(seen, [
    "login ok",
    "read ok", // the mount's engine
    "read error", // 503, retried
    "read unreachable", // retried
    "read ok",
    "read not_found",
    "revoke denied",
  ]);
  assertEquals(tally.fields(), {
    requests: 7,
    login_ok: 1,
    read_ok: 2,
    read_not_found: 1,
    read_unreachable: 1,
    read_error: 1,
    revoke_denied: 1,
  });
});
