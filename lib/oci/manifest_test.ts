import {
  assert,
  assertEquals,
  assertStringIncludes,
  assertThrows,
} from "../../tests/harness/assert.ts";
import {
  type Descriptor,
  digestMatches,
  parseImageConfig,
  parseManifest,
  parsePlatform,
  selectManifest,
  sha256Digest,
} from "./manifest.ts";

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const D = (n: number) => `sha256:${String(n).repeat(64).slice(0, 64)}`;

const entry = (n: number, architecture: string, variant?: string): Descriptor => ({
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  digest: D(n),
  size: 1,
  platform: { os: "linux", architecture, ...(variant ? { variant } : {}) },
});

Deno.test("parsePlatform() reads os/architecture[/variant] and rejects anything else", () => {
  assertEquals(parsePlatform("linux/amd64"), { os: "linux", architecture: "amd64" });
  assertEquals(parsePlatform("linux/arm64/v8"), {
    os: "linux",
    architecture: "arm64",
    variant: "v8",
  });
  for (const bad of ["linux", "linux/", "Linux/AMD64", "a/b/c/d"]) {
    assertStringIncludes(assertThrows(() => parsePlatform(bad), TypeError).message, `"${bad}"`);
  }
});

Deno.test("selectManifest() matches os, architecture and variant, with arm64's v8 implied", () => {
  const index = [
    { ...entry(1, "unknown"), platform: { os: "unknown", architecture: "unknown" } }, // attestation
    entry(2, "amd64"),
    entry(3, "arm", "v6"),
    entry(4, "arm", "v7"),
    entry(5, "arm64", "v8"),
  ];
  assertEquals(selectManifest(index, parsePlatform("linux/amd64"))?.digest, D(2));
  assertEquals(selectManifest(index, parsePlatform("linux/arm64"))?.digest, D(5));
  assertEquals(selectManifest(index, parsePlatform("linux/arm64/v8"))?.digest, D(5));
  assertEquals(selectManifest(index, parsePlatform("linux/arm"))?.digest, D(4));
  assertEquals(selectManifest(index, parsePlatform("linux/arm/v6"))?.digest, D(3));
  assertEquals(selectManifest(index, parsePlatform("linux/s390x")), undefined);
  assertEquals(selectManifest([entry(6, "arm64")], parsePlatform("linux/arm64/v8"))?.digest, D(6));
  assertEquals(selectManifest([entry(7, "amd64")], parsePlatform("windows/amd64")), undefined);
});

Deno.test("parseManifest() tells an index from an image manifest by shape, mediaType or not", () => {
  const index = parseManifest(enc({ schemaVersion: 2, manifests: [entry(1, "amd64")] }), "");
  assertEquals(index, { kind: "index", manifests: [entry(1, "amd64")] });
  const config = {
    mediaType: "application/vnd.docker.container.image.v1+json",
    digest: D(2),
    size: 10,
  };
  assertEquals(
    parseManifest(
      enc({ schemaVersion: 2, config, layers: [] }),
      "application/vnd.docker.distribution.manifest.v2+json",
    ),
    { kind: "image", config },
  );
});

Deno.test("parseManifest() refuses schema 1, artifacts and garbage with a reason", () => {
  const cases: [Uint8Array, string, string][] = [
    [
      enc({ schemaVersion: 1 }),
      "application/vnd.docker.distribution.manifest.v1+prettyjws",
      "schema 1",
    ],
    [
      enc({
        config: { mediaType: "application/vnd.cncf.helm.config.v1+json", digest: D(1), size: 1 },
      }),
      "application/vnd.oci.image.manifest.v1+json",
      "not a container image",
    ],
    [new TextEncoder().encode("<html>"), "text/html", "not JSON"],
    [enc({ hello: "world" }), "application/json", "neither"],
    [
      enc({ manifests: [{ ...entry(1, "amd64"), digest: "sha256:../../tags/list" }] }),
      "application/vnd.oci.image.index.v1+json",
      "neither",
    ],
  ];
  for (const [bytes, type, why] of cases) {
    assertStringIncludes(assertThrows(() => parseManifest(bytes, type), SyntaxError).message, why);
  }
});

Deno.test("parseImageConfig() reads Entrypoint and Cmd; null, absent or a string are handled as Docker does", () => {
  assertEquals(parseImageConfig(enc({ config: { Entrypoint: ["/e"], Cmd: ["c", "d"] } })), {
    entrypoint: ["/e"],
    cmd: ["c", "d"],
  });
  assertEquals(parseImageConfig(enc({ config: { Entrypoint: null, Cmd: null } })), {
    entrypoint: [],
    cmd: [],
  });
  assertEquals(parseImageConfig(enc({ architecture: "amd64" })), { entrypoint: [], cmd: [] });
  assertEquals(parseImageConfig(enc({ config: null })), { entrypoint: [], cmd: [] });
  assertEquals(parseImageConfig(enc({ config: { Cmd: "/bin/sh -c x" } })).cmd, ["/bin/sh -c x"]);
  assertStringIncludes(
    assertThrows(() => parseImageConfig(enc({ config: { Cmd: [1] } })), SyntaxError).message,
    "config.Cmd",
  );
});

Deno.test("digestMatches() checks sha256 and sha512 and refuses unknown algorithms", async () => {
  const bytes = new TextEncoder().encode("hello");
  const d = await sha256Digest(bytes);
  assertEquals(d, "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
  assert(await digestMatches(bytes, d));
  assert(!await digestMatches(new TextEncoder().encode("hellO"), d));
  assert(!await digestMatches(bytes, "md5:5d41402abc4b2a76b9719d911017c592"));
  const sha512 = "sha512:" +
    "9b71d224bd62f3785d96d46ad3ea3d73319bfbc2890caadae2dff72519673ca72323c3d99ba5c11d7c7acc6e14b8c5da0c4663475c2e5c3adef46f73bcdec043";
  assert(await digestMatches(bytes, sha512));
});
