import { assertEquals } from "../../tests/harness/assert.ts";
import { healthAnswer } from "./health.ts";

const get = (path: string, method = "GET") => new Request(`http://127.0.0.1${path}`, { method });

Deno.test("the health listener answers only the routes it was given", async () => {
  let ready = false;
  const both = { ready: () => ready, metrics: () => "m_total 1\n" };
  assertEquals(healthAnswer(get("/healthz"), both).status, 503);
  ready = true;
  assertEquals(await healthAnswer(get("/healthz"), both).text(), "ok\n");
  const metrics = healthAnswer(get("/metrics"), both);
  assertEquals(metrics.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  assertEquals(await metrics.text(), "m_total 1\n");
  assertEquals(healthAnswer(get("/metrics"), { ready: () => true }).status, 404);
  assertEquals(healthAnswer(get("/healthz"), { metrics: () => "" }).status, 404);
  assertEquals(healthAnswer(get("/metrics", "POST"), both).status, 405);
  assertEquals(healthAnswer(get("/other"), both).status, 404);
});
