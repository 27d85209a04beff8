import { assertEquals, assertStringIncludes, assertThrows } from "../../tests/harness/assert.ts";
import {
  checkLabelName,
  checkMetricName,
  escapeHelp,
  escapeLabelValue,
  formatValue,
  sample,
} from "./exposition.ts";

Deno.test("escapeLabelValue() escapes backslash, double quote and line feed, and nothing else", () => {
  assertEquals(escapeLabelValue(String.raw`a\b"c` + "\nd\te}"), String.raw`a\\b\"c\nd` + "\te}");
  assertEquals(escapeLabelValue("plain-1.2"), "plain-1.2");
});

Deno.test("a label value cannot end its quotes or its line, whatever it holds", () => {
  for (const hostile of ['"} 1\nevil_total 9', "\\", '\\"', "\n", "x\\\n"]) {
    const line = sample("m_total", [["k", hostile]], 1);
    assertEquals(line.split("\n").length, 1, hostile);
    // The value between the quotes: every quote in it is escaped, so it ends where it should.
    const inner = line.slice('m_total{k="'.length, line.lastIndexOf('"}'));
    assertEquals(
      inner.replace(/\\[\\"n]/g, ""),
      inner.replace(/\\[\\"n]/g, "").replace(/["\\\n]/g, ""),
    );
  }
});

Deno.test("escapeHelp() escapes backslash and line feed only", () => {
  assertEquals(escapeHelp('say "x"\\y\nz'), 'say "x"\\\\y\\nz');
});

Deno.test("formatValue() writes integers, floats and the special values as Prometheus parses them", () => {
  assertEquals(
    [
      formatValue(3n),
      formatValue(0.25),
      formatValue(NaN),
      formatValue(Infinity),
      formatValue(-Infinity),
    ],
    ["3", "0.25", "NaN", "+Inf", "-Inf"],
  );
});

Deno.test("checkMetricName() and checkLabelName() refuse names Prometheus would not parse", () => {
  for (const bad of ["", "1abc", "a-b", "a b", 'a"']) {
    assertThrows(() => checkMetricName(bad), TypeError);
  }
  assertEquals(checkMetricName("ns:sub_total"), "ns:sub_total");
  for (const bad of ["", "a:b", "__name", "le", "a-b"]) {
    throwsWith(() => checkLabelName("m", bad), "of metric m");
  }
  assertEquals(checkLabelName("m", "outcome"), "outcome");
});

/** `fn` throws a TypeError whose message includes `part`. */
function throwsWith(fn: () => unknown, part: string): void {
  assertStringIncludes(assertThrows(fn, TypeError).message, part);
}
