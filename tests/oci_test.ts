/** Image entrypoint lookups against a real registry (distribution v2) that requires
 * authentication for everything: Basic (htpasswd) with blobs redirected to a separate storage
 * host, Bearer tokens from a token service, and plain http. The registries are started here,
 * once, and stopped after the last test that runs (harness/suite.ts). */
import { credentialsFor, type PullSecret } from "../lib/oci/credentials.ts";
import { ImageLookup, ImageLookupError, type ImageLookupOptions } from "../lib/oci/lookup.ts";
import { parseReference } from "../lib/oci/reference.ts";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "./harness/assert.ts";
import { type Registry, startRegistry } from "./harness/registry.ts";
import { within } from "./harness/within.ts";
import { Suite } from "./harness/suite.ts";

interface Registries {
  basic: Registry; // htpasswd, blobs redirected to storage
  token: Registry; // Bearer tokens
  plain: Registry; // htpasswd over plain http
}

/** Three registries in a folder of their own, started by the first test that needs them and
 * stopped, with the folder removed, after the last test that runs (the registries' child
 * processes live across tests, so the per-test leak checks are off). */
const suite = new Suite<Registries & { dir: string }>({
  setUp: async () => {
    const dir = await Deno.makeTempDir({ prefix: "secrets-store-oci-test-" });
    const [basic, token, plain] = await Promise.all([
      startRegistry(dir, { redirectBlobs: true }),
      startRegistry(dir, { auth: "token" }),
      startRegistry(dir, { tls: false }),
    ]);
    return { basic, token, plain, dir };
  },
  tearDown: async (r) => {
    await Promise.all([r.basic.stop(), r.token.stop(), r.plain.stop()]);
    await Deno.remove(r.dir, { recursive: true });
  },
});
const registries = () => suite.ready();

function test(name: string, fn: () => Promise<void>) {
  suite.test(name, fn, { sanitizeOps: false, sanitizeResources: false });
}

/** A pull Secret as `kubectl create secret docker-registry` writes it. */
function pullSecret(name: string, registry: string, username: string, password: string) {
  const auths = { [registry]: { username, password, auth: btoa(`${username}:${password}`) } };
  return {
    type: "kubernetes.io/dockerconfigjson",
    metadata: { name },
    data: { ".dockerconfigjson": btoa(JSON.stringify({ auths })) },
  } satisfies PullSecret;
}

/** The credentials the webhook would pass for `image` from a Pod's imagePullSecrets. */
const credentials = (image: string, secrets: PullSecret[]) =>
  credentialsFor(parseReference(image), secrets);

const WRONG_PASSWORD = "wrong-password-do-not-print";

/** Runs `fn` with a fresh lookup (empty caches) trusting `reg`'s CA. */
async function withLookup<T>(
  reg: Registry,
  fn: (l: ImageLookup) => Promise<T>,
  o: ImageLookupOptions = {},
): Promise<T> {
  const l = new ImageLookup({ caCerts: [reg.caCert], timeoutMs: 10_000, ...o });
  try {
    return await fn(l);
  } finally {
    l.close();
  }
}

test("without credentials the lookup fails as unauthorized, naming the image", async () => {
  const { basic } = await registries();
  await basic.push.image("anon/app", "v1", { entrypoint: ["/app"] });
  const image = `${basic.host}/anon/app:v1`;
  const e = await withLookup(
    basic,
    (l) => assertRejects(() => l.lookup(image, []), ImageLookupError),
  );
  assertEquals([e.reason, e.image, e.status], ["unauthorized", image, 401]);
  assertStringIncludes(e.message, `"${image}"`);
  assertStringIncludes(e.message, "no pull secret has a credential");
});

test("a dockerconfigjson pull secret opens a Docker v2 image: entrypoint, cmd and manifest digest", async () => {
  const { basic } = await registries();
  const digest = await basic.push.image("team/app", "1.0", {
    entrypoint: ["/docker-entrypoint.sh"],
    cmd: ["nginx", "-g", "daemon off;"],
  }, "docker");
  const image = `${basic.host}/team/app:1.0`;
  const secret = pullSecret("regcred", basic.host, basic.user.username, basic.user.password);
  const r = await withLookup(basic, (l) => l.lookup(image, credentials(image, [secret])));
  assertEquals(r, {
    config: { entrypoint: ["/docker-entrypoint.sh"], cmd: ["nginx", "-g", "daemon off;"], digest },
    cached: false,
  });
});

test("a wrong credential first and the right one second: the second is used", async () => {
  const reg = await registries();
  for (const r of [reg.basic, reg.token]) {
    await r.push.image("team/second", "v1", { entrypoint: ["/second"] });
    const image = `${r.host}/team/second:v1`;
    const secrets = [
      pullSecret("stale", r.host, r.user.username, WRONG_PASSWORD),
      pullSecret("current", `https://${r.host}`, r.user.username, r.user.password),
    ];
    const got = await withLookup(r, (l) => l.lookup(image, credentials(image, secrets)));
    assertEquals(got.config.entrypoint, ["/second"]);
  }
  // The token service saw the anonymous try, the stale password, then the current one.
  const asked = reg.token.tokenService!.requests.slice(-3);
  assertEquals(asked, [
    { user: undefined, granted: false },
    { user: reg.token.user.username, granted: false },
    { user: reg.token.user.username, granted: true },
  ]);
});

test("only wrong credentials: unauthorized, saying how many were tried and never a password", async () => {
  const reg = await registries();
  for (const r of [reg.basic, reg.token]) {
    await r.push.image("team/denied", "v1", { entrypoint: ["/x"] });
    const image = `${r.host}/team/denied:v1`;
    const secrets = [
      pullSecret("a", r.host, "nobody", WRONG_PASSWORD),
      pullSecret("b", r.host, r.user.username, WRONG_PASSWORD + "-2"),
    ];
    const e = await withLookup(
      r,
      (l) => assertRejects(() => l.lookup(image, credentials(image, secrets)), ImageLookupError),
    );
    assertEquals(e.reason, "unauthorized");
    assertStringIncludes(e.message, `"${image}"`);
    assertStringIncludes(e.message, "all 2 credentials");
    assert(!e.message.includes(WRONG_PASSWORD), e.message);
    assert(!JSON.stringify(e).includes(WRONG_PASSWORD), "the error's fields hold no password");
  }
});

test("a multi-arch index resolves to the entry of the configured platform", async () => {
  const { basic } = await registries();
  const secret = pullSecret("regcred", basic.host, basic.user.username, basic.user.password);
  for (const format of ["oci", "docker"] as const) {
    const pushed = await basic.push.index(`multi/${format}`, "v1", [
      { architecture: "amd64", entrypoint: ["/amd64"], cmd: ["serve"] },
      { architecture: "arm64", variant: "v8", entrypoint: ["/arm64"], cmd: ["serve"] },
    ], format);
    const image = `${basic.host}/multi/${format}:v1`;
    const creds = credentials(image, [secret]);
    const amd = await withLookup(basic, (l) => l.lookup(image, creds));
    assertEquals(amd.config, {
      entrypoint: ["/amd64"],
      cmd: ["serve"],
      digest: pushed.manifests[0],
    });
    for (const platform of ["linux/arm64", "linux/arm64/v8"]) {
      const arm = await withLookup(basic, (l) => l.lookup(image, creds), { platform });
      assertEquals(arm.config, {
        entrypoint: ["/arm64"],
        cmd: ["serve"],
        digest: pushed.manifests[1],
      });
    }
    // The index itself can be named by digest too.
    const byDigest = `${basic.host}/multi/${format}@${pushed.digest}`;
    const d = await withLookup(basic, (l) => l.lookup(byDigest, credentials(byDigest, [secret])));
    assertEquals(d.config.entrypoint, ["/amd64"]);
  }
});

test("an index without the wanted platform fails, naming the platform and what it offers", async () => {
  const { basic } = await registries();
  await basic.push.index("multi/no-s390x", "v1", [
    { architecture: "amd64", entrypoint: ["/a"] },
    { architecture: "arm64", variant: "v8", entrypoint: ["/b"] },
  ]);
  const image = `${basic.host}/multi/no-s390x:v1`;
  const creds = [{ registry: basic.host, ...basic.user }];
  const e = await withLookup(
    basic,
    (l) => assertRejects(() => l.lookup(image, creds), ImageLookupError),
    { platform: "linux/s390x" },
  );
  assertEquals(e.reason, "no_platform");
  assertStringIncludes(e.message, "no manifest for platform linux/s390x");
  assertStringIncludes(e.message, "linux/amd64, linux/arm64/v8");
});

test("a missing tag or repository is not_found", async () => {
  const { basic } = await registries();
  await basic.push.image("team/tags", "v1", { entrypoint: ["/x"] });
  const creds = [{ registry: basic.host, ...basic.user }];
  for (const image of [`${basic.host}/team/tags:v404`, `${basic.host}/team/no-such-repo:v1`]) {
    const e = await withLookup(
      basic,
      (l) => assertRejects(() => l.lookup(image, creds), ImageLookupError),
    );
    assertEquals([e.reason, e.status], ["not_found", 404]);
    assertStringIncludes(e.message, `"${image}"`);
  }
});

test("an image with neither entrypoint nor cmd gives empty lists for the caller to judge", async () => {
  const { basic } = await registries();
  const digest = await basic.push.image("team/empty", "v1", { entrypoint: null, cmd: null });
  const r = await withLookup(
    basic,
    (l) => l.lookup(`${basic.host}/team/empty:v1`, [{ registry: basic.host, ...basic.user }]),
  );
  assertEquals(r.config, { entrypoint: [], cmd: [], digest });
});

test("a second lookup is served from the cache without any registry request", async () => {
  const { basic } = await registries();
  await basic.push.image("team/cached", "v1", { entrypoint: ["/cached"] });
  const image = `${basic.host}/team/cached:v1`;
  const creds = [{ registry: basic.host, ...basic.user }];
  await withLookup(basic, async (l) => {
    assertEquals(l.cached(image, creds), undefined, "nothing cached before a lookup");
    assertEquals((await l.lookup(image, creds)).cached, false);
    const before = await basic.pulls();
    const again = await l.lookup(image, creds);
    assertEquals([again.cached, again.config.entrypoint], [true, ["/cached"]]);
    // The webhook's synchronous path: the same answer without a promise.
    assertEquals(l.cached(image, creds)?.entrypoint, ["/cached"]);
    assertEquals(l.cached(image, []), undefined, "other credentials do not share the entry");
    assertEquals(l.cached("Not/Valid:", creds), undefined);
    assertEquals(await basic.pulls() - before, 0);
  });
});

test("concurrent lookups of one image share one set of registry requests", async () => {
  const { basic } = await registries();
  await basic.push.image("team/rollout", "v1", { entrypoint: ["/rollout"] });
  const image = `${basic.host}/team/rollout:v1`;
  const creds = [{ registry: basic.host, ...basic.user }];
  let before = await basic.pulls();
  await withLookup(basic, (l) => l.lookup(image, creds));
  const one = await basic.pulls() - before;
  assert(one >= 2, `one lookup made ${one} requests`); // at least a manifest and a blob
  before = await basic.pulls();
  const all = await withLookup(
    basic,
    (l) => Promise.all(Array.from({ length: 10 }, () => l.lookup(image, creds))),
  );
  assertEquals(all.map((r) => r.config.entrypoint[0]), Array(10).fill("/rollout"));
  assertEquals(await basic.pulls() - before, one);
});

test("a re-pushed tag is seen after the tag's cache entry expires, without a caller waiting", async () => {
  const { basic } = await registries();
  const image = `${basic.host}/team/moving:latest`;
  const creds = [{ registry: basic.host, ...basic.user }];
  await basic.push.image("team/moving", "latest", { entrypoint: ["/old"] });
  // Both lookups on one hand-driven clock: time passes when the test says so.
  let clock = 0;
  const now = () => clock;
  const shortTtl = new ImageLookup({ caCerts: [basic.caCert], cacheTtlMs: 1000, now });
  const longTtl = new ImageLookup({ caCerts: [basic.caCert], now });
  try {
    for (const l of [shortTtl, longTtl]) {
      assertEquals((await l.lookup(image, creds)).config.entrypoint, ["/old"]);
    }
    await basic.push.image("team/moving", "latest", { entrypoint: ["/new"] });
    clock += 1000;
    // Past the TTL the cached answer is given at once, and the tag is looked up behind it.
    const served = await shortTtl.lookup(image, creds);
    assertEquals([served.cached, served.config.entrypoint], [true, ["/old"]]);
    await within(10_000, "the background lookup of the re-pushed tag", shortTtl.settled());
    const fresh = await shortTtl.lookup(image, creds);
    assertEquals([fresh.cached, fresh.config.entrypoint], [true, ["/new"]]);
    const stale = await longTtl.lookup(image, creds); // within its 5 minutes
    assertEquals([stale.cached, stale.config.entrypoint], [true, ["/old"]]);
  } finally {
    shortTtl.close();
    longTtl.close();
  }
});

test("blobs redirected to a storage host are fetched there without the registry's credentials", async () => {
  const { basic } = await registries();
  await basic.push.image("team/redirected", "v1", { entrypoint: ["/from-storage"] });
  const before = basic.storageRequests;
  const r = await withLookup(
    basic,
    (l) => l.lookup(`${basic.host}/team/redirected:v1`, [{ registry: basic.host, ...basic.user }]),
  );
  assertEquals(r.config.entrypoint, ["/from-storage"]);
  // The storage host answers 400 to any request with an Authorization header, as S3 does.
  assertEquals(basic.storageRequests - before, 1);
});

test("a registry whose CA is not trusted fails with a tls error", async () => {
  const { basic } = await registries();
  await basic.push.image("team/tls", "v1", { entrypoint: ["/x"] });
  const image = `${basic.host}/team/tls:v1`;
  const e = await withLookup(
    basic,
    (l) =>
      assertRejects(
        () => l.lookup(image, [{ registry: basic.host, ...basic.user }]),
        ImageLookupError,
      ),
    { caCerts: [] },
  );
  assertEquals(e.reason, "tls");
  assertStringIncludes(e.message, `"${image}"`);
  assertStringIncludes(e.message, "UnknownIssuer");
});

test("plain http is used only for registries listed in plainHttpRegistries", async () => {
  const { plain } = await registries();
  await plain.push.image("team/plain", "v1", { entrypoint: ["/plain"] });
  const image = `${plain.host}/team/plain:v1`;
  const creds = [{ registry: plain.host, ...plain.user }];
  const e = await withLookup(
    plain,
    (l) => assertRejects(() => l.lookup(image, creds), ImageLookupError),
  );
  assertEquals(e.reason, "tls");
  assertStringIncludes(e.message, "plainHttpRegistries");
  const r = await withLookup(plain, (l) => l.lookup(image, creds), {
    plainHttpRegistries: [plain.host],
  });
  assertEquals(r.config.entrypoint, ["/plain"]);
});

test("a registry that accepts but never answers is a timeout within timeoutMs", async () => {
  // Stand-in: a listener that never replies, since a real registry cannot be told to hang.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const c of listener) held.push(c);
  })();
  const host = `127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
  const l = new ImageLookup({ timeoutMs: 300, plainHttpRegistries: [host] });
  try {
    const started = performance.now();
    const e = await assertRejects(() => l.lookup(`${host}/team/app:v1`, []), ImageLookupError);
    const took = performance.now() - started;
    assertEquals(e.reason, "timeout");
    assertStringIncludes(e.message, host);
    assert(took >= 250 && took < 1500, `took ${Math.round(took)} ms`);
  } finally {
    l.close();
    listener.close();
    held.forEach((c) => c.close());
    await accepting.catch(() => {});
  }
});
