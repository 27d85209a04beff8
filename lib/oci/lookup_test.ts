/** ImageLookup against a real-socket stand-in registry, for what the real registry in
 * tests/oci_test.ts cannot be made to do: serve a corrupted blob, or answer slowly on cue. */
import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "../../tests/harness/assert.ts";
import { within } from "../../tests/harness/within.ts";
import { ImageLookup, ImageLookupError } from "./lookup.ts";
import { sha256Digest } from "./manifest.ts";

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

interface StandIn {
  host: string;
  /** Requests seen, as "GET /v2/...". */
  requests: string[];
  /** Resolves once `n` requests have come, or fails after its own deadline. */
  seen(n: number): Promise<void>;
  /** Holds every answer until released, to have lookups overlap. */
  hold(): () => void;
  /** Has the tag point at a config with this entrypoint from now on. */
  push(entrypoint: string): Promise<void>;
}

/** An image whose config blob is `config`: the manifest and the blob's digest. */
async function image(config: Uint8Array<ArrayBuffer>) {
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
  return { manifest, configDigest, config };
}

/** An anonymous registry with `team/app:v1` whose config blob is `config` (or, when
 * `corrupt`, other bytes than its digest promises). The lookup's caches run on `now`. */
async function withStandIn(
  o: { corrupt?: boolean; now?: () => number },
  fn: (s: StandIn, lookup: ImageLookup) => Promise<void>,
) {
  const blobs = new Map<string, Uint8Array<ArrayBuffer>>();
  const manifests = new Map<string, Uint8Array<ArrayBuffer>>();
  const tag = async (entrypoint: string) => {
    const pushed = await image(enc({ config: { Entrypoint: [entrypoint], Cmd: ["run"] } }));
    blobs.set(pushed.configDigest, pushed.config);
    manifests.set(await sha256Digest(pushed.manifest), pushed.manifest);
    return pushed.manifest;
  };
  let manifest = await tag("/app");
  const requests: string[] = [];
  const waiters: Array<{ n: number; arrived: () => void }> = [];
  let gate: Promise<void> = Promise.resolve();
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = new URL(req.url).pathname;
    requests.push(`${req.method} ${path}`);
    for (const w of waiters) if (requests.length >= w.n) w.arrived();
    await gate;
    const named = path.startsWith("/v2/team/app/manifests/")
      ? path.endsWith("/v1") ? manifest : manifests.get(path.split("/").at(-1)!)
      : undefined;
    if (named) {
      return new Response(named, {
        headers: { "content-type": "application/vnd.oci.image.manifest.v1+json" },
      });
    }
    const blob = blobs.get(path.slice("/v2/team/app/blobs/".length));
    if (path.startsWith("/v2/team/app/blobs/") && blob) {
      return new Response(o.corrupt ? enc({ config: { Entrypoint: ["/evil"] } }) : blob);
    }
    return Response.json({ errors: [{ code: "NAME_UNKNOWN" }] }, { status: 404 });
  });
  const host = `127.0.0.1:${server.addr.port}`;
  const lookup = new ImageLookup({ plainHttpRegistries: [host], ...o.now ? { now: o.now } : {} });
  const seen = (n: number) =>
    within(
      5_000,
      `${n} registry requests`,
      new Promise<void>((arrived) => {
        waiters.push({ n, arrived });
        if (requests.length >= n) arrived();
      }),
    );
  const hold = () => {
    let release!: () => void;
    gate = new Promise((r) => release = r);
    return () => {
      release();
      gate = Promise.resolve();
    };
  };
  try {
    const push = async (entrypoint: string) => void (manifest = await tag(entrypoint));
    await fn({ host, requests, seen, hold, push }, lookup);
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
  await withStandIn({}, async ({ host, requests, seen, hold }, lookup) => {
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
    // Both manifest requests arrive while the answers are held: neither waits for the other,
    // and the third lookup shares the first one's.
    await seen(2);
    assertEquals(requests, Array(2).fill("GET /v2/team/app/manifests/v1"));
    release();
    const all = await Promise.all([a, b, c]);
    assert(all.every((r) => r.config.entrypoint[0] === "/app"));
    // The config blob is asked once or twice, as the two answers race: it is shared by digest.
    const manifests = requests.filter((r) => r.includes("/manifests/"));
    assertEquals(manifests.length, 2, requests.join("\n"));
  });
});

Deno.test("past cacheTtl a tag's cached answer serves at once and is looked up again behind it", async () => {
  let clock = 0;
  await withStandIn({ now: () => clock }, async ({ host, requests, push }, lookup) => {
    const image = `${host}/team/app:v1`;
    assertEquals((await lookup.lookup(image, [])).config.entrypoint, ["/app"]);
    await push("/new");
    clock += 5 * 60_000 - 1;
    assertEquals(lookup.cached(image, [])?.entrypoint, ["/app"], "young: not asked again");
    assertEquals(requests.length, 2);
    clock += 1;
    const served = await lookup.lookup(image, []);
    assertEquals([served.cached, served.config.entrypoint], [true, ["/app"]]);
    await lookup.settled();
    assertEquals(lookup.cached(image, [])?.entrypoint, ["/new"]);
    assertEquals(requests.length, 4, requests.join("\n")); // one refresh: a manifest, a blob
    clock += 2 * 5 * 60_000;
    assertEquals(lookup.cached(image, []), undefined, "two TTLs old: not answered");
  });
});

Deno.test("an image named by digest is never looked up again, however old", async () => {
  let clock = 0;
  await withStandIn({ now: () => clock }, async ({ host, requests }, lookup) => {
    const tagged = await lookup.lookup(`${host}/team/app:v1`, []);
    const byDigest = `${host}/team/app@${tagged.config.digest}`;
    // The manifest by digest is a request of its own; the config is known by its digest.
    const pinned = await lookup.lookup(byDigest, []);
    assertEquals([pinned.cached, pinned.config], [false, tagged.config]);
    const asked = requests.length;
    clock += 1e12;
    assertEquals((await lookup.lookup(byDigest, [])).cached, true);
    await lookup.settled();
    assertEquals(requests.length, asked);
  });
});
