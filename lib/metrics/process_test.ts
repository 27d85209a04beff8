import { assert, assertEquals } from "../../tests/harness/assert.ts";
import {
  parseBootTime,
  parseMaxFds,
  parseResident,
  parseStat,
  processMetrics,
  readProcess,
} from "./process.ts";

Deno.test("parseStat() reads the fields after a command name holding spaces and parentheses", () => {
  const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
  fields[0] = "S";
  const text = `1234 (a) b (c) ${fields.join(" ")}\n`;
  assertEquals(parseStat(text), { utime: 14, stime: 15, starttime: 22, vsize: 23 });
});

Deno.test("parseResident(), parseBootTime() and parseMaxFds() read /proc's own layouts", () => {
  assertEquals(parseResident("Name:\tx\nVmRSS:\t   65536 kB\n"), 65536 * 1024);
  assertEquals(parseBootTime("cpu 1 2\nbtime 1764590000\nprocesses 9\n"), 1764590000);
  const limits = "Limit                     Soft Limit           Hard Limit           Units\n" +
    "Max open files            1024                 524288               files\n";
  assertEquals(parseMaxFds(limits), 1024);
  assertEquals(parseMaxFds(limits.replace("1024 ", "unlimited ")), undefined);
});

Deno.test("this process's metrics are plausible: started before now, some memory, open fds under the limit", () => {
  const p = readProcess();
  const now = Date.now() / 1000;
  assert(
    p.startTimeSeconds <= now + 1 && p.startTimeSeconds > now - 86400 * 365,
    `${p.startTimeSeconds}`,
  );
  assert(p.residentBytes > 1024 * 1024);
  assert(p.openFds > 2 && (p.maxFds === undefined || p.openFds <= p.maxFds));
  assert(p.cpuSeconds > 0);
});

Deno.test("processMetrics() writes the standard names, and nothing when /proc cannot be read", () => {
  const text = processMetrics().join("\n");
  for (
    const name of [
      "process_cpu_seconds_total",
      "process_resident_memory_bytes",
      "process_virtual_memory_bytes",
      "process_start_time_seconds",
      "process_open_fds",
      "process_max_fds",
    ]
  ) {
    assert(new RegExp(`^${name} [0-9.e+]+$`, "m").test(text), name);
  }
  assertEquals(
    processMetrics(() => {
      throw new Deno.errors.NotFound("/proc");
    }),
    [],
  );
});
