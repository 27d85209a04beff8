/** ImageLookup against a real-socket stand-in registry, for what the real registry in
 * tests/oci_test.ts cannot be made to do: serve a corrupted blob, or answer slowly on cue. */
import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "../../tests/harness/assert.ts";
import { ImageLookup, ImageLookupError } from "./lookup.ts";
import { sha256Digest } from "./manifest.ts";

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

interface StandIn {
  host: string;
  /** Requests seen, as "GET /v2/...". */
  requests: string[];
  /** Holds every answer until released, to have lookups overlap. */
  hold(): () => void;
}

/** An anonymous registry with `team/app:v1` whose config blob is `config` (or, when
 * `corrupt`, other bytes than its digest promises). */
async function withStandIn(
  o: { corrupt?: boolean },
  fn: (s: StandIn, lookup: ImageLookup) => Promise<void>,
) {
  const config = enc({ config: { Entrypoint: ["/app"], Cmd: ["run"] } });
  const configDigest = await sha256Digest(config);
  const manifest = enc({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {
      mediaType: "application/vnd.oci.image.config.v1+json",
      digest: configDigest,
      size: config.length,
    },
    layers: [],
  });
  const requests: string[] = [];
  let gate: Promise<void> = Promise.resolve();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = new URL(req.url).pathname;
    requests.push(`${req.method} ${path}`);
    await gate;
    if (path === "/v2/team/app/manifests/v1") {
      return new Response(manifest, {
        headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" },
      });
    }
    if (path === `/v2/team/app/blobs/${configDigest}`) {
      return new Response(o.corrupt ? enc({ config: { Entrypoint: ["/evil"] } }) : config);
    }
    return Response.json({ errors: [{ code: "NAME_UNKNOWN" }] }, { status: 404 });
  });
  const host = `127.0.0.1:${server.addr.port}`;
  const lookup = new ImageLookup({ plainHttpRegistries: [host] });
  const hold = () => {
    let release!: () => void;
    gate = new Promise((r) => release = r);
    return () => {
      release();
      gate = Promise.resolve();
    };
  };
  try {
    await fn({ host, requests, hold }, lookup);
  } finally {
    lookup.close();
    await server.shutdown();
  }
}

Deno.test("ImageLookup refuses a malformed platform, TTL or timeout with a TypeError", () => {
  assertStringIncludes(
    assertThrows(() => new ImageLookup({ platform: "amd64" }), TypeError).message,
    '"amd64"',
  );
  assertThrows(() => new ImageLookup({ cacheTtlMs: -1 }), TypeError);
  assertThrows(() => new ImageLookup({ timeoutMs: 0 }), TypeError);
});

Deno.test("lookup() reports an invalid image name as invalid_reference, naming it", async () => {
  const l = new ImageLookup();
  try {
    const e = await assertRejects(() => l.lookup("Not/Valid:", []), ImageLookupError);
    assertEquals([e.reason, e.image], ["invalid_reference", "Not/Valid:"]);
    assertStringIncludes(e.message, '"Not/Valid:"');
  } finally {
    l.close();
  }
});

Deno.test("a config blob that does not match its digest is refused, not cached", async () => {
  await withStandIn({ corrupt: true }, async ({ host }, lookup) => {
    for (let i = 0; i < 2; i++) {
      const e = await assertRejects(
        () => lookup.lookup(`${host}/team/app:v1`, []),
        ImageLookupError,
      );
      assertEquals(e.reason, "bad_response");
      assertStringIncludes(e.message, "config blob does not match its digest");
    }
  });
});

Deno.test("a caller that gives up stops waiting; the shared lookup still serves the others", async () => {
  await withStandIn({}, async ({ host, requests, hold }, lookup) => {
    const release = hold();
    const impatient = new AbortController();
    const first = lookup.lookup(`${host}/team/app:v1`, [], impatient.signal);
    const second = lookup.lookup(`${host}/team/app:v1`, []);
    impatient.abort();
    const e = await assertRejects(() => first, ImageLookupError);
    assertEquals(e.reason, "aborted");
    release();
    assertEquals((await second).config.entrypoint, ["/app"]);
    assertEquals(requests.length, 2, requests.join("\n")); // one manifest, one blob
  });
});

Deno.test("lookups with other credentials do not wait on each other's attempt", async () => {
  await withStandIn({}, async ({ host, requests, hold }, lookup) => {
    const release = hold();
    const a = lookup.lookup(`${host}/team/app:v1`, [{
      registry: host,
      username: "a",
      password: "1",
    }]);
    const b = lookup.lookup(`${host}/team/app:v1`, [{
      registry: host,
      username: "b",
      password: "2",
    }]);
    const c = lookup.lookup(`${host}/team/app:v1`, [{
      registry: host,
      username: "a",
      password: "1",
    }]);
    await new Promise((r) => setTimeout(r, 50));
    release();
    const all = await Promise.all([a, b, c]);
    assert(all.every((r) => r.config.entrypoint[0] === "/app"));
    assertEquals(requests.length, 4, requests.join("\n")); // two lookups of two requests each
  });
});
