import {
  assert,
  assertEquals,
  assertStringIncludes,
  assertThrows,
} from "../../tests/harness/assert.ts";
import { MetricsRegistry } from "./registry.ts";

const value = (text: string, series: string) =>
  text.split("\n").find((l) => l.startsWith(series + " "))?.slice(series.length + 1);

Deno.test("a counter counts by its declared label values and renders HELP and TYPE first", () => {
  const r = new MetricsRegistry();
  const c = r.counter("t_things_total", "Things.", { name: "kind", values: ["a", "b"] });
  r.bind();
  c.inc("a");
  c.inc("a", 2);
  const text = r.render();
  assertEquals(text.split("\n").slice(0, 2), [
    "# HELP t_things_total Things.",
    "# TYPE t_things_total counter",
  ]);
  assertEquals(value(text, 't_things_total{kind="a"}'), "3");
  assertEquals(value(text, 't_things_total{kind="b"}'), "0");
});

Deno.test("a label value that was not declared is refused, so no caller can put a name or a secret in a label", () => {
  const r = new MetricsRegistry();
  const c = r.counter<string>("t_x_total", "X.", { name: "outcome", values: ["ok", "error"] });
  const h = r.histogram<string>("t_d_seconds", "D.", [1], { name: "outcome", values: ["ok"] });
  const plain = r.counter("t_y_total", "Y.");
  r.bind();
  for (const hostile of ["my-pod-7f9c", "demo-kv/data/myapp-secret", "secret-password", ""]) {
    throwsWith(() => c.inc(hostile), "outcome must be one of ok, error");
    throwsWith(() => h.observe(0.1, hostile), "outcome must be one of ok");
    throwsWith(() => (plain.inc as (at?: string) => void)(hostile), "has no label");
  }
  assert(!r.render().includes("secret"));
});

Deno.test("an observation equal to a bucket's bound counts in that bucket (le is inclusive)", () => {
  const r = new MetricsRegistry();
  const h = r.histogram("t_seconds", "T.", [0.001, 0.25, 1, 5]);
  r.bind();
  for (const s of [0.001, 0.25, 1, 5, 7]) h.observe(s);
  const text = r.render();
  const bucket = (le: string) => value(text, `t_seconds_bucket{le="${le}"}`);
  assertEquals(["0.001", "0.25", "1", "5", "+Inf"].map(bucket), ["1", "2", "3", "4", "5"]);
  assertEquals(value(text, "t_seconds_sum"), "13.251");
  assertEquals(value(text, "t_seconds_count"), "5");
});

Deno.test("a labelled histogram puts its label before le, and a sparse label hides series at zero but the first", () => {
  const r = new MetricsRegistry();
  const h = r.histogram("t_call_seconds", "C.", [0.5], {
    name: "outcome",
    values: ["ok", "not_found", "internal"],
    sparse: true,
  });
  r.bind();
  h.observe(0.7, "internal");
  const text = r.render();
  assertEquals(value(text, 't_call_seconds_bucket{outcome="ok",le="+Inf"}'), "0");
  assertEquals(value(text, 't_call_seconds_bucket{outcome="internal",le="0.5"}'), "0");
  assertEquals(value(text, 't_call_seconds_count{outcome="internal"}'), "1");
  assert(!text.includes("not_found"), text);
});

Deno.test("a gauge holds the last value set; a collected gauge is read at each render", () => {
  const r = new MetricsRegistry();
  const g = r.gauge("t_level", "L.");
  let n = 1;
  r.collected("t_size", "S.", () => n);
  r.bind();
  g.set(5);
  g.set(2);
  assertEquals(value(r.render(), "t_level"), "2");
  assertEquals(value(r.render(), "t_size"), "1");
  n = 4;
  assertEquals(value(r.render(), "t_size"), "4");
});

Deno.test("declarations are checked: names, _total, increasing buckets, duplicates, bind once", () => {
  const r = new MetricsRegistry();
  throwsWith(() => r.counter("t-bad_total", "x"), "Invalid metric name");
  throwsWith(() => r.counter("t_count", "x"), "must end in _total");
  throwsWith(() => r.histogram("t_h", "x", [1, 1]), "increasing");
  throwsWith(() => r.histogram("t_h", "x", [1, Infinity]), "+Inf is implied");
  throwsWith(() => r.histogram("t_h", "x", []), "increasing");
  assertThrows(() => r.counter("t_l_total", "x", { name: "le", values: ["a"] }), TypeError);
  throwsWith(
    () => r.counter("t_v_total", "x", { name: "k", values: ["a", "a"] }),
    "twice",
  );
  r.counter("t_ok_total", "x");
  throwsWith(() => r.counter("t_ok_total", "x"), "declared twice");
  const unbound = new MetricsRegistry();
  const c = unbound.counter("t_u_total", "x");
  throwsWith(() => c.inc(), "before MetricsRegistry.bind()");
  unbound.bind();
  throwsWith(() => unbound.bind(), "twice");
});

Deno.test("a registry declared the same way adopts shared memory, and refuses memory of another size", () => {
  const make = () => {
    const r = new MetricsRegistry();
    return { r, c: r.counter("t_s_total", "S.") };
  };
  const a = make();
  a.r.bind();
  const b = make();
  b.r.bind(a.r.shared);
  b.c.inc(undefined, 3);
  a.c.inc();
  assertEquals(value(a.r.render(), "t_s_total"), "4");
  const other = new MetricsRegistry();
  other.counter("t_s_total", "S.");
  other.counter("t_t_total", "T.");
  throwsWith(() => other.bind(a.r.shared), "needs 16");
});

/** `fn` throws a TypeError whose message includes `part`. */
function throwsWith(fn: () => unknown, part: string): void {
  assertStringIncludes(assertThrows(fn, TypeError).message, part);
}

Deno.test("a counter of several labels takes one value per label, each checked, and writes them in order", () => {
  const r = new MetricsRegistry();
  const c = r.counter("t_req_total", "R.", [
    { name: "op", values: ["get", "put"] },
    { name: "outcome", values: ["ok", "error"], sparse: true },
  ]);
  r.bind();
  c.inc(["put", "error"], 2);
  const text = r.render();
  assertEquals(value(text, 't_req_total{op="get",outcome="ok"}'), "0");
  assertEquals(value(text, 't_req_total{op="put",outcome="ok"}'), "0");
  assertEquals(value(text, 't_req_total{op="put",outcome="error"}'), "2");
  assertEquals(value(text, 't_req_total{op="get",outcome="error"}'), undefined, "sparse at zero");
  throwsWith(() => c.inc(["get", "secret-password"]), "outcome must be one of ok, error");
  throwsWith(() => c.inc(["get"]), "takes op, outcome");
});

Deno.test("a bounded label learns its first values, then counts every other one under its overflow value", () => {
  const r = new MetricsRegistry();
  const c = r.counter("t_role_total", "R.", [
    { name: "op", values: ["read"] },
    {
      name: "role",
      bounded: { limit: 2, overflow: "other", accept: (v) => v !== "other" && /^\w+$/.test(v) },
    },
  ]);
  r.bind();
  assertEquals(value(r.render(), 't_role_total{op="read",role="other"}'), undefined, "none yet");
  for (const role of ["a", "b", "a", "c", "not a role!", "other", "d"]) c.inc(["read", role]);
  const text = r.render();
  assertEquals(value(text, 't_role_total{op="read",role="a"}'), "2");
  assertEquals(value(text, 't_role_total{op="read",role="b"}'), "1");
  // Past the limit, refused by accept, or the overflow's own name: one series.
  assertEquals(value(text, 't_role_total{op="read",role="other"}'), "4");
  assertEquals(text.split("\n").filter((l) => l.startsWith("t_role_total{")).length, 3);
  throwsWith(
    () =>
      r.counter("t_bad_total", "B.", [{
        name: "x",
        bounded: { limit: 1, overflow: "o", accept: () => true },
      }]),
    "an overflow value it does not accept",
  );
});

Deno.test("a registry with a bounded label is not shared with another thread", () => {
  const r = new MetricsRegistry();
  r.counter("t_b_total", "B.", [{
    name: "role",
    bounded: { limit: 1, overflow: "other", accept: (v) => v !== "other" },
  }]);
  throwsWith(() => r.bind(new SharedArrayBuffer(16)), "bounded label");
});
