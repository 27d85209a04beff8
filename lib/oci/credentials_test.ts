import {
  assert,
  assertEquals,
  assertStringIncludes,
  assertThrows,
} from "../../tests/harness/assert.ts";
import { credentialsFor, matchKey, type PullSecret } from "./credentials.ts";
import { parseReference } from "./reference.ts";

const b64 = (s: string) => btoa(s);
const auth = (user: string, pass: string) => b64(`${user}:${pass}`);

/** A Secret as `kubectl create secret docker-registry` writes it. */
function dockerConfigJson(auths: Record<string, unknown>, name = "pull"): PullSecret {
  return {
    type: "kubernetes.io/dockerconfigjson",
    metadata: { name },
    data: { ".dockerconfigjson": b64(JSON.stringify({ auths })) },
  };
}

Deno.test("credentialsFor() reads auth, username/password and identitytoken entries", () => {
  const image = parseReference("registry.example:5000/team/app:1");
  const secret = dockerConfigJson({
    "registry.example:5000": { auth: auth("alice", "pa:ss"), email: "a@example.com" },
  });
  assertEquals(credentialsFor(image, [secret]), [
    { registry: "registry.example:5000", username: "alice", password: "pa:ss" },
  ]);
  const plain = dockerConfigJson({
    "https://registry.example:5000": { username: "bob", password: "pw" },
  });
  assertEquals(credentialsFor(image, [plain]), [
    { registry: "https://registry.example:5000", username: "bob", password: "pw" },
  ]);
  const token = dockerConfigJson({
    "registry.example:5000": {
      username: "00000000-0000-0000-0000-000000000000",
      identitytoken: "rt",
    },
  });
  assertEquals(credentialsFor(image, [token]), [{
    registry: "registry.example:5000",
    username: "00000000-0000-0000-0000-000000000000",
    identityToken: "rt",
  }]);
});

Deno.test("credentialsFor() reads the legacy kubernetes.io/dockercfg type", () => {
  const secret: PullSecret = {
    type: "kubernetes.io/dockercfg",
    data: { ".dockercfg": b64(JSON.stringify({ "quay.io": { auth: auth("u", "p") } })) },
  };
  assertEquals(credentialsFor(parseReference("quay.io/org/app"), [secret]), [
    { registry: "quay.io", username: "u", password: "p" },
  ]);
});

Deno.test("credentialsFor() returns every matching credential of every secret, most specific key first", () => {
  const image = parseReference("registry.example/team/app");
  const first = dockerConfigJson({
    "registry.example": { auth: auth("host-wide", "1") },
    "other.example": { auth: auth("elsewhere", "x") },
  });
  const second = dockerConfigJson({
    "registry.example/team": { auth: auth("team", "2") },
    "registry.example/other-team": { auth: auth("not-this-team", "x") },
    "https://registry.example/v2/": { auth: auth("second-host-wide", "3") },
  });
  assertEquals(credentialsFor(image, [first, second]).map((c) => c.username), [
    "team",
    "host-wide",
    "second-host-wide",
  ]);
});

Deno.test("credentialsFor() tries a login listed twice only once", () => {
  const image = parseReference("registry.example/app");
  const s = dockerConfigJson({ "registry.example": { auth: auth("u", "p") } });
  assertEquals(credentialsFor(image, [s, s]).length, 1);
});

Deno.test("credentialsFor() treats docker.io, index.docker.io and registry-1.docker.io as one", () => {
  for (const key of ["https://index.docker.io/v1/", "docker.io", "registry-1.docker.io"]) {
    const secret = dockerConfigJson({ [key]: { auth: auth("hub", "pw") } });
    for (
      const image of ["alpine:3.20", "docker.io/bitnami/redis", "index.docker.io/library/nginx"]
    ) {
      assertEquals(credentialsFor(parseReference(image), [secret]).length, 1, `${key} ${image}`);
    }
    assertEquals(credentialsFor(parseReference("ghcr.io/org/app"), [secret]), []);
  }
});

Deno.test("matchKey() compares ports exactly, path components whole, and globs within one label", () => {
  const img = parseReference("registry.example:5000/team/app");
  assertEquals(matchKey("registry.example:5000", img), 0);
  assertEquals(matchKey("http://registry.example:5000/team", img), 1);
  assertEquals(matchKey("registry.example:5000/team/app", img), 2);
  assertEquals(matchKey("registry.example", img), undefined);
  assertEquals(matchKey("registry.example:5001", img), undefined);
  assertEquals(matchKey("registry.example:5000/tea", img), undefined);
  assertEquals(matchKey("registry.example:5000/team/app/more", img), undefined);
  assertEquals(matchKey("*.example:5000", img), 0);
  assertEquals(matchKey("*.example:5000", parseReference("a.b.example:5000/x")), undefined);
  assertEquals(matchKey("REGISTRY.example:5000", img), 0);
});

Deno.test("credentialsFor() skips secrets of other types and entries without a login", () => {
  const image = parseReference("registry.example/app");
  const opaque: PullSecret = { type: "Opaque", data: { password: b64("x") } };
  const emailOnly = dockerConfigJson({ "registry.example": { email: "a@example.com" } });
  assertEquals(credentialsFor(image, [opaque, emailOnly]), []);
});

Deno.test("a malformed pull secret is a TypeError naming the secret and key, never a value", () => {
  const image = parseReference("registry.example/app");
  const bad: [PullSecret, string][] = [
    [{ type: "kubernetes.io/dockerconfigjson", metadata: { name: "s1" }, data: {} }, "no data key"],
    [{
      type: "kubernetes.io/dockerconfigjson",
      metadata: { name: "s1" },
      data: { ".dockerconfigjson": "%%%" },
    }, "base64"],
    [{
      type: "kubernetes.io/dockerconfigjson",
      metadata: { name: "s1" },
      data: { ".dockerconfigjson": b64(JSON.stringify({ "registry.example": {} })) },
    }, "auths"],
    [
      dockerConfigJson({ "registry.example": { auth: b64("no-colon-s3cret") } }, "s1"),
      "user:password",
    ],
    [dockerConfigJson({ "registry.example": { password: 12345 } }, "s1"), "password"],
  ];
  for (const [secret, why] of bad) {
    const e = assertThrows(() => credentialsFor(image, [secret]), TypeError);
    assertStringIncludes(e.message, '"s1"');
    assertStringIncludes(e.message, why);
    assert(!e.message.includes("s3cret") && !e.message.includes("12345"), e.message);
  }
});
