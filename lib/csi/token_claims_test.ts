import {
  assert,
  assertEquals,
  assertStringIncludes,
  assertThrows,
} from "../../tests/harness/assert.ts";
import { readTokenClaims, TokenClaimsError } from "./token_claims.ts";

const b64url = (text: string) =>
  btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const jwt = (payload: unknown) =>
  `${b64url('{"alg":"RS256"}')}.${b64url(JSON.stringify(payload))}.c2lnbmF0dXJl`;

const CLAIMS = {
  "kubernetes.io": {
    namespace: "myapp-namespace",
    serviceaccount: { name: "myapp-sa", uid: "sa-uid" },
    pod: { name: "myapp3", uid: "pod-uid" },
  },
  exp: 2_000_000_000,
};

Deno.test("readTokenClaims() reads who a Pod-bound token says it is, its expiry in ms and its audiences", () => {
  assertEquals(readTokenClaims(jwt({ ...CLAIMS, aud: "vault" })), {
    namespace: "myapp-namespace",
    serviceAccount: { name: "myapp-sa", uid: "sa-uid" },
    pod: { name: "myapp3", uid: "pod-uid" },
    expiresAt: 2_000_000_000_000,
    audiences: ["vault"],
  });
  assertEquals(readTokenClaims(jwt({ ...CLAIMS, aud: ["a", "b"] })).audiences, ["a", "b"]);
  assertEquals(readTokenClaims(jwt(CLAIMS)).audiences, []);
});

Deno.test("readTokenClaims() refuses what is not a JWT, saying so and never echoing the token", () => {
  const secretish = "s3cr3t-token-material";
  const cases: Array<[string, string]> = [
    ["", "three base64url parts"],
    [secretish, "three base64url parts"],
    [`a.b.c.${secretish}`, "three base64url parts"],
    [`${b64url("{}")}..sig`, "three base64url parts"],
    [`a.${secretish}+/=.c`, "three base64url parts"],
    [`a.${b64url("not json " + secretish)}.c`, "payload is not base64url JSON"],
    // A byte 0xff is not UTF-8: refused, not read as a namespace of replacement characters.
    [
      `a.${b64url(JSON.stringify(CLAIMS).replace("myapp-namespace", "myapp-\xff"))}.c`,
      "payload is not base64url JSON",
    ],
  ];
  for (const [token, words] of cases) {
    const e = assertThrows(() => readTokenClaims(token), TokenClaimsError);
    assertStringIncludes(e.message, words, JSON.stringify(token));
    assert(!e.message.includes(secretish), e.message);
  }
});

Deno.test("readTokenClaims() refuses tokens without Pod binding or expiry, naming the claim", () => {
  const { pod: _pod, ...unbound } = CLAIMS["kubernetes.io"];
  const cases: Array<[unknown, string]> = [
    [{ sub: "system:serviceaccount:ns:sa", exp: 1 }, "not a bound ServiceAccount token"],
    [{ ...CLAIMS, "kubernetes.io": unbound }, "not bound to a Pod"],
    [{ ...CLAIMS, exp: undefined }, "exp"],
    [{ ...CLAIMS, exp: "2000000000" }, "exp"],
    [{ ...CLAIMS, exp: 1.5 }, "exp"],
    [{ ...CLAIMS, "kubernetes.io": { ...CLAIMS["kubernetes.io"], namespace: "" } }, "namespace"],
    [{ ...CLAIMS, aud: 7 }, "aud"],
    [[CLAIMS], "payload"],
  ];
  for (const [payload, words] of cases) {
    const e = assertThrows(() => readTokenClaims(jwt(payload)), TokenClaimsError);
    assertStringIncludes(e.message, words, JSON.stringify(payload));
  }
});
