import { assert, assertEquals } from "../../tests/harness/assert.ts";
import { isObjectName } from "./api_path.ts";
import { KubeError } from "./client.ts";
import {
  buildEvent,
  cutUtf8,
  type EventInput,
  eventName,
  EventRecorder,
  microTime,
} from "./events.ts";

const POD = {
  apiVersion: "v1",
  kind: "Pod",
  namespace: "team-a",
  name: "web-0",
  uid: "0b8e6c2e-4f7c-4d0e-9a47-2b1c3d4e5f60",
};
const ROTATED: EventInput = {
  regarding: POD,
  type: "Normal",
  reason: "SecretRotated",
  action: "Rotate",
  note: "files rotated: db-password",
};

/** A stand-in for the API server: records each request; `gate` holds requests until opened. */
function fakeClient(o: { fail?: (method: string) => Error | undefined } = {}) {
  const calls: Array<{ method: string; path: string; body: unknown }> = [];
  let open: () => void = () => {};
  let gate: Promise<void> | undefined;
  return {
    calls,
    hold() {
      gate = new Promise((r) => (open = r));
    },
    release() {
      gate = undefined;
      open();
    },
    async create(path: string, body: unknown) {
      calls.push({ method: "POST", path, body });
      await gate;
      const e = o.fail?.("POST");
      if (e) throw e;
    },
    async mergePatch(path: string, body: unknown) {
      calls.push({ method: "PATCH", path, body });
      await gate;
      const e = o.fail?.("PATCH");
      if (e) throw e;
    },
  };
}

function recorder(client: ReturnType<typeof fakeClient>, extra: { queueLimit?: number } = {}) {
  let now = Date.UTC(2026, 11, 1, 12, 0, 0, 123);
  const r = new EventRecorder({
    client: client as never,
    controller: "secrets-store.deckhouse.io/csi",
    instance: "node-1",
    now: () => now,
    ...extra,
  });
  return { r, tick: (ms: number) => (now += ms) };
}

Deno.test("buildEvent() writes an events.k8s.io/v1 Event the API server accepts: micro time, reporting fields, regarding with uid", () => {
  const e = buildEvent(ROTATED, {
    controller: "secrets-store.deckhouse.io/csi",
    instance: "node-1",
    now: Date.UTC(2026, 11, 1, 12, 0, 0, 123),
    suffix: "00ff",
  });
  assertEquals(e, {
    apiVersion: "events.k8s.io/v1",
    kind: "Event",
    metadata: { name: "web-0.00ff", namespace: "team-a" },
    eventTime: "2026-12-01T12:00:00.123000Z",
    reportingController: "secrets-store.deckhouse.io/csi",
    reportingInstance: "node-1",
    action: "Rotate",
    reason: "SecretRotated",
    type: "Normal",
    note: "files rotated: db-password",
    regarding: POD,
  });
});

Deno.test("an event about a Pod without a uid (refused at CREATE) carries no uid field", () => {
  const e = buildEvent({ ...ROTATED, regarding: { ...POD, uid: undefined } }, {
    controller: "c/x",
    instance: "i",
    now: 0,
    suffix: "1",
  });
  assertEquals(Object.keys(e.regarding as object), ["apiVersion", "kind", "namespace", "name"]);
});

Deno.test("eventName() makes a valid object name of any object name, including a generateName", () => {
  for (const n of ["web-", "web-abc-", "A_B", "", "-", "a..b", "x".repeat(300), "é", "a.-b"]) {
    const name = eventName(n, "0123456789abcdef");
    assert(isObjectName(name), `${JSON.stringify(n)} -> ${name}`);
  }
  assertEquals(eventName("web-", "1f"), "web.1f");
});

Deno.test("microTime() has exactly six fraction digits", () => {
  assertEquals(microTime(0), "1970-01-01T00:00:00.000000Z");
});

Deno.test("cutUtf8() keeps a note within 1024 bytes without splitting a character", () => {
  const note = cutUtf8("ж".repeat(2000), 1024);
  assert(new TextEncoder().encode(note).length <= 1024);
  assert(note.endsWith("…"));
  assert(!note.includes("\uFFFD"));
  assertEquals(cutUtf8("short", 1024), "short");
});

Deno.test("emit() returns before the request is answered, and the event is POSTed to the Events API collection", async () => {
  const c = fakeClient();
  c.hold();
  const { r } = recorder(c);
  r.emit(ROTATED);
  assertEquals(r.stats.created, 0);
  c.release();
  await r.settled();
  assertEquals(c.calls.map((x) => [x.method, x.path]), [
    ["POST", "/apis/events.k8s.io/v1/namespaces/team-a/events"],
  ]);
  assertEquals(r.stats.created, 1);
});

Deno.test("repeats within the window become one series patch carrying the count, not new events", async () => {
  const c = fakeClient();
  const { r, tick } = recorder(c);
  r.emit(ROTATED);
  await r.settled();
  c.hold();
  for (let i = 0; i < 5; i++) (tick(1000), r.emit(ROTATED));
  c.release();
  await r.settled();
  const posts = c.calls.filter((x) => x.method === "POST");
  const patches = c.calls.filter((x) => x.method === "PATCH");
  assertEquals(posts.length, 1);
  const name = (posts[0]!.body as { metadata: { name: string } }).metadata.name;
  assertEquals(patches[0]!.path, `/apis/events.k8s.io/v1/namespaces/team-a/events/${name}`);
  // The first patch left with the first repeat; the one queued behind it while it was under
  // way carries the four others too.
  assertEquals(patches.length, 2);
  assertEquals(patches[1]!.body, {
    series: { count: 6, lastObservedTime: "2026-12-01T12:00:05.123000Z" },
  });
  assertEquals(r.stats.repeats, 5);
});

Deno.test("a different note, reason or object is a new event; a repeat after the window is too", async () => {
  const c = fakeClient();
  const { r, tick } = recorder(c);
  r.emit(ROTATED);
  r.emit({ ...ROTATED, note: "files rotated: other" });
  r.emit({ ...ROTATED, reason: "SecretRotationFailed", type: "Warning" });
  r.emit({ ...ROTATED, regarding: { ...POD, name: "web-1" } });
  tick(11 * 60_000);
  r.emit(ROTATED);
  await r.settled();
  assertEquals(c.calls.filter((x) => x.method === "POST").length, 5);
  assertEquals(c.calls.filter((x) => x.method === "PATCH").length, 0);
});

Deno.test("a full queue drops and counts new events, and serving never waits for it", async () => {
  const c = fakeClient();
  c.hold();
  const { r } = recorder(c, { queueLimit: 3 });
  for (let i = 0; i < 10; i++) r.emit({ ...ROTATED, note: `n${i}` });
  // One in flight (taken off the queue), three queued, six dropped.
  assertEquals(r.stats.dropped, 6);
  c.release();
  await r.settled();
  assertEquals(r.stats.created, 4);
  // A dropped event is not remembered: the next one like it is sent.
  r.emit({ ...ROTATED, note: "n9" });
  await r.settled();
  assertEquals(r.stats.created, 5);
});

Deno.test("a refused request is counted and reported, and the next events still go out", async () => {
  let refuse = true;
  const c = fakeClient({
    fail: () => refuse ? new KubeError(403, "/x", "forbidden (HTTP 403)", "POST") : undefined,
  });
  const errors: string[] = [];
  let now = 0;
  const r = new EventRecorder({
    client: c as never,
    controller: "c/x",
    instance: "i",
    now: () => now,
    onError: (m) => errors.push(m),
  });
  r.emit(ROTATED);
  r.emit({ ...ROTATED, note: "other" });
  await r.settled();
  assertEquals(r.stats.failed, 2);
  assertEquals(errors, ["Kubernetes API POST /x: forbidden (HTTP 403)"]); // once a minute
  refuse = false;
  now += 61_000;
  r.emit({ ...ROTATED, note: "third" });
  await r.settled();
  assertEquals(r.stats.created, 1);
});

Deno.test("a series patch answered 404 (the event expired) makes the next repeat a new event", async () => {
  let missing = false;
  const c = fakeClient({
    fail: (m) => m === "PATCH" && missing ? new KubeError(404, "/x", "not found", m) : undefined,
  });
  const { r, tick } = recorder(c);
  r.emit(ROTATED);
  await r.settled();
  missing = true;
  tick(1000);
  r.emit(ROTATED);
  await r.settled();
  tick(1000);
  r.emit(ROTATED);
  await r.settled();
  assertEquals(c.calls.map((x) => x.method), ["POST", "PATCH", "POST"]);
});

Deno.test("the remembered events are bounded: the oldest is forgotten first", async () => {
  const c = fakeClient();
  const r = new EventRecorder({
    client: c as never,
    controller: "c/x",
    instance: "i",
    keysLimit: 2,
  });
  for (const n of ["a", "b", "c", "a"]) r.emit({ ...ROTATED, note: n });
  await r.settled();
  // "a" was forgotten when "c" came, so its repeat is a new event.
  assertEquals(c.calls.filter((x) => x.method === "POST").length, 4);
});

Deno.test("after close() nothing more is sent", async () => {
  const c = fakeClient();
  const { r } = recorder(c);
  await r.close();
  r.emit(ROTATED);
  await r.settled();
  assertEquals(c.calls.length, 0);
});
