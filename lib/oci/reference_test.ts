import { assertEquals, assertStringIncludes, assertThrows } from "../../tests/harness/assert.ts";
import { formatReference, parseReference } from "./reference.ts";

const DIGEST = "sha256:" + "ab".repeat(32);

Deno.test("parseReference() puts a bare name on Docker Hub's library with tag latest", () => {
  assertEquals(parseReference("alpine"), {
    registry: "docker.io",
    apiHost: "registry-1.docker.io",
    repository: "library/alpine",
    tag: "latest",
    digest: undefined,
  });
  assertEquals(parseReference("alpine:3.20").tag, "3.20");
  assertEquals(parseReference("docker.io/alpine").repository, "library/alpine");
  assertEquals(parseReference("index.docker.io/library/alpine").registry, "docker.io");
});

Deno.test("parseReference() keeps a Docker Hub user's repository as it is", () => {
  const r = parseReference("bitnami/redis:7.2");
  assertEquals([r.registry, r.repository, r.tag], ["docker.io", "bitnami/redis", "7.2"]);
});

Deno.test("parseReference() takes a first component with '.', ':' or 'localhost' as the registry", () => {
  const cases: [string, string, string, string | undefined][] = [
    ["registry.local/app", "registry.local", "app", "latest"],
    ["localhost/app:v1", "localhost", "app", "v1"],
    ["host:5000/team/app:1.0", "host:5000", "team/app", "1.0"],
    ["127.0.0.1:5000/a/b/c", "127.0.0.1:5000", "a/b/c", "latest"],
    ["[::1]:5000/app:v2", "[::1]:5000", "app", "v2"],
    ["ghcr.io/org/app", "ghcr.io", "org/app", "latest"],
  ];
  for (const [image, registry, repository, tag] of cases) {
    const r = parseReference(image);
    assertEquals([r.registry, r.apiHost, r.repository, r.tag], [
      registry,
      registry,
      repository,
      tag,
    ], image);
  }
});

Deno.test("parseReference() reads a digest, with or without a tag, and then needs no default tag", () => {
  assertEquals(parseReference(`host:5000/team/app@${DIGEST}`), {
    registry: "host:5000",
    apiHost: "host:5000",
    repository: "team/app",
    tag: undefined,
    digest: DIGEST,
  });
  const both = parseReference(`app:1.0@${DIGEST}`);
  assertEquals([both.tag, both.digest], ["1.0", DIGEST]);
});

Deno.test("parseReference() rejects malformed references with a TypeError naming them and why", () => {
  const cases: [string, string][] = [
    ["", "empty"],
    [" alpine", "spaces"],
    ["Alpine", "lowercase"],
    ["app:", "tag"],
    ["app:bad/tag?", "registry"],
    ["app@sha256:abc", "digest"],
    [`app@sha256:${"AB".repeat(32)}`, "64 lowercase hex"],
    ["host:5000/", "empty"],
    ["a//b", "component"],
    ["bad_host.x:port/app", "registry"],
    [`${"a".repeat(256)}`, "255"],
  ];
  for (const [image, why] of cases) {
    const e = assertThrows(() => parseReference(image), TypeError);
    assertStringIncludes(e.message, `"${image}"`);
    assertStringIncludes(e.message, why);
  }
});

Deno.test("formatReference() writes the canonical form", () => {
  assertEquals(formatReference(parseReference("alpine")), "docker.io/library/alpine:latest");
  assertEquals(
    formatReference(parseReference(`host:5000/app@${DIGEST}`)),
    `host:5000/app@${DIGEST}`,
  );
});
