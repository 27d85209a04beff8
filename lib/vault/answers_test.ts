import { assertEquals } from "../../tests/harness/assert.ts";
import {
  answerWarnings,
  errorAnswer,
  goneVersion,
  kvV2Data,
  leaseAnswer,
  loginAnswer,
  mountAnswer,
  readAnswerData,
} from "./answers.ts";

Deno.test("loginAnswer() takes a token, its lease and renewable (false when absent)", () => {
  assertEquals(loginAnswer({ auth: { client_token: "t", lease_duration: 60 } }), {
    token: "t",
    leaseSeconds: 60,
    renewable: false,
  });
  assertEquals(
    loginAnswer({ auth: { client_token: "t", lease_duration: 0, renewable: true } })?.renewable,
    true,
  );
});

Deno.test("loginAnswer() refuses an answer without a usable token or lease", () => {
  for (
    const body of [
      undefined,
      null,
      [],
      { auth: null },
      { auth: [] },
      { auth: { client_token: "", lease_duration: 1 } },
      { auth: { client_token: 7, lease_duration: 1 } },
      { auth: { client_token: "t" } },
      { auth: { client_token: "t", lease_duration: -1 } },
      { auth: { client_token: "t", lease_duration: 1.5 } },
      { auth: { client_token: "t", lease_duration: "1" } },
      { auth: { client_token: "t", lease_duration: 1, renewable: null } },
    ]
  ) {
    assertEquals(loginAnswer(body), undefined, JSON.stringify(body));
  }
});

Deno.test("readAnswerData() tells an object, null and a missing or wrong data apart", () => {
  assertEquals(readAnswerData({ data: { a: 1 } }), { a: 1 });
  assertEquals(readAnswerData({ data: null }), null);
  for (const body of [undefined, [], "x", {}, { data: [] }, { data: "x" }]) {
    assertEquals(readAnswerData(body), undefined, JSON.stringify(body));
  }
});

Deno.test("readAnswerData() keeps a key named __proto__ as the secret's own key", () => {
  const data = readAnswerData(JSON.parse('{"data":{"__proto__":"v"}}'));
  assertEquals(Object.hasOwn(data!, "__proto__"), true);
});

Deno.test("kvV2Data() needs data and metadata, each an object or null", () => {
  assertEquals(kvV2Data({ data: { k: "v" }, metadata: {} }), { data: { k: "v" } });
  assertEquals(kvV2Data({ data: null, metadata: null }), { data: null });
  assertEquals(kvV2Data({ data: { k: "v" } }), undefined);
  assertEquals(kvV2Data({ k: "v" }), undefined);
  assertEquals(kvV2Data({ data: [], metadata: {} }), undefined);
});

Deno.test("errorAnswer() gives both lists, or nothing when either is not strings", () => {
  assertEquals(errorAnswer({ errors: ["a"], warnings: null }), { errors: ["a"], warnings: [] });
  assertEquals(errorAnswer({ errors: ["a"], warnings: [1] }), undefined);
  assertEquals(errorAnswer({ errors: "a" }), undefined);
  assertEquals(errorAnswer([]), undefined);
  assertEquals(answerWarnings({ warnings: ["w"] }), ["w"]);
  assertEquals(answerWarnings({ warnings: [{}] }), []);
  assertEquals(answerWarnings(undefined), []);
});

Deno.test("goneVersion() reads a gone version's metadata and refuses wrong types", () => {
  assertEquals(
    goneVersion({ data: { metadata: { version: 3, deletion_time: "t", destroyed: false } } }),
    { version: 3, deletion_time: "t", destroyed: false },
  );
  assertEquals(goneVersion({ data: { metadata: { version: "3" } } }), undefined);
  assertEquals(goneVersion({ data: { metadata: { version: 3, destroyed: "yes" } } }), undefined);
  assertEquals(goneVersion({ data: { metadata: { version: 3, deletion_time: 5 } } }), undefined);
  assertEquals(goneVersion({ data: {} }), undefined);
});

Deno.test("mountAnswer() needs a path and a type; options an object when given", () => {
  assertEquals(mountAnswer({ data: { path: "kv/", type: "kv", options: { version: "2" } } }), {
    path: "kv/",
    type: "kv",
    options: { version: "2" },
  });
  assertEquals(mountAnswer({ data: { path: "", type: "kv" } }), undefined);
  assertEquals(mountAnswer({ data: { path: "kv/" } }), undefined);
  assertEquals(mountAnswer({ data: { path: "kv/", type: "kv", options: "x" } }), undefined);
});

Deno.test("leaseAnswer() takes a lease, null for none, and refuses a lease that is not well formed", () => {
  assertEquals(
    leaseAnswer({ lease_id: "database/creds/app/x1", lease_duration: 6, renewable: true }),
    { id: "database/creds/app/x1", leaseSeconds: 6, renewable: true },
  );
  // A KV v1 answer: an empty id, a TTL that is no lease.
  assertEquals(leaseAnswer({ lease_id: "", lease_duration: 2764800, renewable: false }), null);
  assertEquals(leaseAnswer({ data: {} }), null);
  for (
    const body of [
      undefined,
      [],
      { lease_id: 7, lease_duration: 6 },
      { lease_id: "a/b", lease_duration: -1 },
      { lease_id: "a/b", lease_duration: "6" },
      { lease_id: "a/b", lease_duration: 6, renewable: "yes" },
      { lease_id: "a/b\nforged log line", lease_duration: 6 },
      { lease_id: "a b", lease_duration: 6 },
      { lease_id: "x".repeat(1025), lease_duration: 6 },
    ]
  ) {
    assertEquals(leaseAnswer(body), undefined, JSON.stringify(body));
  }
});
