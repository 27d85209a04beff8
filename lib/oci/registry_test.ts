/** RegistrySession against real-socket stand-ins for what the real registry in
 * tests/oci_test.ts cannot be made to do: refresh-token logins, hostile redirects, huge or
 * throttled answers. */
import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "../../tests/harness/assert.ts";
import { ImageLookupError } from "./errors.ts";
import { parseReference } from "./reference.ts";
import { MAX_MANIFEST_BYTES, parseChallenge, RegistrySession } from "./registry.ts";
import type { RegistryCredential } from "./credentials.ts";

/** Runs `fn` with a plain-http stand-in on 127.0.0.1 and a session for its `team/app:v1`. */
async function withStandIn(
  handler: (req: Request, host: string) => Response | Promise<Response>,
  fn: (session: RegistrySession, host: string) => Promise<void>,
  credentials: RegistryCredential[] = [],
) {
  let host = "";
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) => handler(req, host),
  );
  host = `127.0.0.1:${server.addr.port}`;
  const client = Deno.createHttpClient({});
  try {
    await fn(
      new RegistrySession({
        image: `${host}/team/app:v1`,
        reference: parseReference(`${host}/team/app:v1`),
        credentials,
        client,
        plainHttp: new Set([host]),
        signal: AbortSignal.timeout(5000),
      }),
      host,
    );
  } finally {
    client.close();
    await server.shutdown();
  }
}

Deno.test("parseChallenge() reads the scheme and quoted or bare parameters", () => {
  assertEquals(
    parseChallenge(
      'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"',
    ),
    {
      scheme: "bearer",
      params: {
        realm: "https://auth.example/token",
        service: "registry.example",
        scope: "repository:a/b:pull,push",
      },
    },
  );
  assertEquals(parseChallenge('Basic realm="x \\"y\\""'), {
    scheme: "basic",
    params: { realm: 'x "y"' },
  });
  assertEquals(parseChallenge("Bearer realm=https://a/t, service=s").params, {
    realm: "https://a/t",
    service: "s",
  });
  assertEquals(parseChallenge(null), { scheme: "basic", params: {} });
});

Deno.test("an identity token is exchanged as an OAuth2 refresh token at the realm", async () => {
  const forms: Record<string, string>[] = [];
  await withStandIn(async (req, host) => {
    const url = new URL(req.url);
    if (url.pathname === "/oauth2/token") {
      const form = Object.fromEntries(new URLSearchParams(await req.text()));
      forms.push({ method: req.method, ...form });
      return form.refresh_token === "refresh-1"
        ? Response.json({ access_token: "access-1" })
        : new Response("no", { status: 401 });
    }
    if (req.headers.get("authorization") !== "Bearer access-1") {
      return new Response("{}", {
        status: 401,
        headers: {
          "www-authenticate":
            `Bearer realm="http://${host}/oauth2/token",service="svc",scope="repository:team/app:pull"`,
        },
      });
    }
    return new Response("{}", { headers: { "content-type": "application/json" } });
  }, async (session) => {
    const m = await session.manifest("v1");
    assertEquals(new TextDecoder().decode(m.bytes), "{}");
  }, [
    { registry: "r", username: "<token>", identityToken: "refresh-0" },
    { registry: "r", username: "<token>", identityToken: "refresh-1" },
  ]);
  // The anonymous try is a plain GET; each identity token is a POSTed form.
  assertEquals(forms.map((f) => [f.method, f.grant_type, f.refresh_token, f.service, f.scope]), [
    ["GET", undefined, undefined, undefined, undefined],
    ["POST", "refresh_token", "refresh-0", "svc", "repository:team/app:pull"],
    ["POST", "refresh_token", "refresh-1", "svc", "repository:team/app:pull"],
  ]);
});

Deno.test("credentials are never sent to a token realm over plain http that is not allowed", async () => {
  await withStandIn(() => {
    return new Response("{}", {
      status: 401,
      headers: { "www-authenticate": 'Bearer realm="http://auth.invalid/token"' },
    });
  }, async (session) => {
    const e = await assertRejects(() => session.manifest("v1"), ImageLookupError);
    assertEquals(e.reason, "tls");
    assertStringIncludes(e.message, "auth.invalid");
    assertStringIncludes(e.message, "plainHttpRegistries");
  }, [{ registry: "r", username: "u", password: "p" }]);
});

Deno.test("a redirect to plain http elsewhere is refused; a redirect loop ends", async () => {
  await withStandIn((req) => {
    const path = new URL(req.url).pathname;
    const location = path.includes("manifests") ? "http://storage.invalid/blob" : path;
    return new Response(null, { status: 307, headers: { location } });
  }, async (session) => {
    const away = await assertRejects(() => session.manifest("v1"), ImageLookupError);
    assertEquals(away.reason, "tls");
    const loop = await assertRejects(
      () => session.blob(`sha256:${"0".repeat(64)}`, 100),
      ImageLookupError,
    );
    assertEquals(loop.reason, "bad_response");
    assertStringIncludes(loop.message, "redirects");
  });
});

Deno.test("an answer larger than the limit is refused, with or without Content-Length", async () => {
  await withStandIn((req) => {
    const big = new Uint8Array(MAX_MANIFEST_BYTES + 1);
    if (new URL(req.url).pathname.endsWith("/v1")) return new Response(big);
    // Streamed, so there is no Content-Length to refuse it by.
    return new Response(new Blob([big]).stream());
  }, async (session) => {
    for (const ref of ["v1", "v2"]) {
      const e = await assertRejects(() => session.manifest(ref), ImageLookupError);
      assertEquals(e.reason, "bad_response");
      assertStringIncludes(e.message, "larger than");
    }
  });
});

Deno.test("429 and 5xx are registry errors with the status and the registry's error code", async () => {
  let status = 429;
  await withStandIn(
    () =>
      Response.json({ errors: [{ code: "TOOMANYREQUESTS", message: "slow down" }] }, { status }),
    async (session) => {
      const e = await assertRejects(() => session.manifest("v1"), ImageLookupError);
      assertEquals([e.reason, e.status], ["registry_error", 429]);
      assertStringIncludes(e.message, "TOOMANYREQUESTS");
      status = 503;
      const e5 = await assertRejects(() => session.manifest("v1"), ImageLookupError);
      assert(e5.status === 503 && e5.reason === "registry_error", e5.message);
    },
  );
});
