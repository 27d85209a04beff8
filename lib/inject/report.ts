/** The dry-run report: which variable would come from which path and key, values masked: a
 * template shows its own text with each part from the store as ********. */
import { refName } from "../template/template.ts";
import { MASK } from "../template/engine.ts";
import type { Resolution } from "./resolve.ts";

/** Lines of a table; a value never appears, only whether it resolved. */
export function reportLines(r: Resolution, command: string[]): string[] {
  const rows = r.assignments.map((a) => [
    a.variable,
    a.ref.path === "" ? "(malformed template)" : (a.refs ?? [a.ref]).map(refName).join(", ") +
      (a.from === "env-from-path" ? " (env-from-path)" : ""),
    a.status === "ok"
      ? `= ${a.masked ?? MASK}`
      : a.status === "overridden"
      ? "overridden by env-from-path"
      : `FAILED: ${a.reason}`,
  ]);
  const w0 = Math.max(8, ...rows.map((r) => r[0]!.length));
  const w1 = Math.max(6, ...rows.map((r) => r[1]!.length));
  return [
    `${"VARIABLE".padEnd(w0)}  ${"SOURCE".padEnd(w1)}  RESULT`,
    ...rows.map(([v, s, res]) => `${v!.padEnd(w0)}  ${s!.padEnd(w1)}  ${res}`),
    `${r.reads} distinct read(s); would run: ${command.map((c) => JSON.stringify(c)).join(" ")}`,
  ];
}
