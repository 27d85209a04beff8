import { assert, assertEquals, assertThrows } from "../../tests/harness/assert.ts";
import { createLogger, parseLogLevel } from "./logger.ts";

Deno.test("createLogger() drops lines below its level", () => {
  const lines: string[] = [];
  const log = createLogger({ level: "warn", write: (l) => lines.push(l) });
  log.debug("d");
  log.info("i");
  log.warn("w");
  log.error("e");
  assertEquals(lines.length, 2);
});

Deno.test("createLogger() writes JSON lines with base and call fields", () => {
  const lines: string[] = [];
  createLogger({ json: true, base: { component: "inject" }, write: (l) => lines.push(l) })
    .info("resolved", { path: "demo-kv/data/x", count: 2 });
  const o = JSON.parse(lines[0]!);
  assertEquals([o.level, o.msg, o.component, o.path, o.count], [
    "info",
    "resolved",
    "inject",
    "demo-kv/data/x",
    2,
  ]);
});

Deno.test("createLogger() quotes text values that hold spaces", () => {
  const lines: string[] = [];
  createLogger({ write: (l) => lines.push(l) }).warn("skipped", { reason: "not found" });
  assert(lines[0]!.endsWith('WARN  skipped reason="not found"'), lines[0]);
});

Deno.test("parseLogLevel() accepts aliases and names the bad value", () => {
  assertEquals(parseLogLevel("WARNING"), "warn");
  assertEquals(parseLogLevel("trace"), "debug");
  assertEquals(
    assertThrows(() => parseLogLevel("loud"), TypeError).message.includes('"loud"'),
    true,
  );
});
