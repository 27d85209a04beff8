import { assertEquals, assertStringIncludes } from "../../tests/harness/assert.ts";
import { WebhookMetrics } from "./metrics.ts";

const line = (text: string, name: string) =>
  text.split("\n").find((l) => l.startsWith(name + " "))?.split(" ")[1];

Deno.test("metrics render every outcome, the histogram and lookups, zero included", () => {
  const m = new WebhookMetrics();
  m.admission("mutated", 0.002);
  m.admission("denied", 0.3);
  m.imageLookup("cached");
  const text = m.render();
  assertEquals(line(text, 'secrets_store_webhook_admissions_total{outcome="mutated"}'), "1");
  assertEquals(line(text, 'secrets_store_webhook_admissions_total{outcome="error"}'), "0");
  assertEquals(
    line(text, 'secrets_store_webhook_admission_duration_seconds_bucket{le="0.001"}'),
    "0",
  );
  assertEquals(
    line(text, 'secrets_store_webhook_admission_duration_seconds_bucket{le="0.0025"}'),
    "1",
  );
  assertEquals(
    line(text, 'secrets_store_webhook_admission_duration_seconds_bucket{le="0.5"}'),
    "2",
  );
  assertEquals(
    line(text, 'secrets_store_webhook_admission_duration_seconds_bucket{le="+Inf"}'),
    "2",
  );
  assertEquals(line(text, "secrets_store_webhook_admission_duration_seconds_sum"), "0.302");
  assertEquals(line(text, 'secrets_store_webhook_image_lookups_total{result="cached"}'), "1");
  assertStringIncludes(text, "# TYPE secrets_store_webhook_admission_duration_seconds histogram");
});

Deno.test("counts made on another thread show in this thread's metrics", async () => {
  const m = new WebhookMetrics();
  const code = `import { WebhookMetrics } from "${new URL("./metrics.ts", import.meta.url).href}";
    self.onmessage = (e) => {
      const m = new WebhookMetrics(e.data);
      for (let i = 0; i < 1000; i++) m.admission("mutated", 0.001);
      self.postMessage("done");
    };`;
  const url = URL.createObjectURL(new Blob([code], { type: "application/javascript" }));
  const workers = [new Worker(url, { type: "module" }), new Worker(url, { type: "module" })];
  await Promise.all(workers.map((w) =>
    new Promise((resolve) => {
      w.onmessage = resolve;
      w.postMessage(m.shared);
    })
  ));
  workers.forEach((w) => w.terminate());
  URL.revokeObjectURL(url);
  for (let i = 0; i < 1000; i++) m.admission("mutated", 0.001);
  const text = m.render();
  assertEquals(line(text, 'secrets_store_webhook_admissions_total{outcome="mutated"}'), "3000");
  assertEquals(line(text, "secrets_store_webhook_admission_duration_seconds_count"), "3000");
});

Deno.test("metrics count each limit the server hit, zero included", () => {
  const m = new WebhookMetrics();
  m.limitHit("headTimeout");
  m.limitHit("headTimeout");
  m.limitHit("bodyBudget");
  const text = m.render();
  assertEquals(line(text, 'secrets_store_webhook_limit_hits_total{limit="headTimeout"}'), "2");
  assertEquals(line(text, 'secrets_store_webhook_limit_hits_total{limit="bodyBudget"}'), "1");
  assertEquals(line(text, 'secrets_store_webhook_limit_hits_total{limit="acceptError"}'), "0");
});

Deno.test("an observation equal to a bucket's bound counts in that bucket (le is inclusive)", () => {
  const m = new WebhookMetrics();
  for (const s of [0.001, 0.25, 1, 5]) m.admission("mutated", s);
  const text = m.render();
  const bucket = (le: string) =>
    line(text, `secrets_store_webhook_admission_duration_seconds_bucket{le="${le}"}`);
  assertEquals(
    ["0.001", "0.0025", "0.25", "0.5", "1", "2.5", "5", "+Inf"].map(bucket),
    ["1", "1", "2", "2", "3", "3", "4", "4"],
  );
});
