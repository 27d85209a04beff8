/** The dry-run report: which variable would come from which path and key, values masked: a
 * template shows its own text with each part from the store as ********. A write reference
 * is never sent in a dry run: its row says it would write. */
import { refName } from "../template/template.ts";
import { MASK } from "../template/engine.ts";
import { type Assignment, describeRef, type Resolution } from "./resolve.ts";

/** Lines of a table; a value never appears, only whether it resolved. */
export function reportLines(r: Resolution, command: string[]): string[] {
  const rows = r.assignments.map((a) => [a.variable, source(a), result(a)]);
  const w0 = Math.max(8, ...rows.map((r) => r[0]!.length));
  const w1 = Math.max(6, ...rows.map((r) => r[1]!.length));
  const writes = r.assignments.filter((a) => a.special === "write" && a.status === "skipped");
  return [
    `${"VARIABLE".padEnd(w0)}  ${"SOURCE".padEnd(w1)}  RESULT`,
    ...rows.map(([v, s, res]) => `${v!.padEnd(w0)}  ${s!.padEnd(w1)}  ${res}`),
    `${r.reads} distinct read(s)${
      writes.length ? `, ${writes.length} write reference(s) not sent` : ""
    }; would run: ${command.map((c) => JSON.stringify(c)).join(" ")}`,
  ];
}

function source(a: Assignment): string {
  if (a.special || a.ref.path === "") return describeRef(a);
  return (a.refs ?? [a.ref]).map(refName).join(", ") +
    (a.from === "env-from-path" ? " (env-from-path)" : "");
}

function result(a: Assignment): string {
  switch (a.status) {
    case "ok":
      return `= ${a.masked ?? MASK}`;
    case "overridden":
      return "overridden by env-from-path";
    case "skipped":
      return a.reason ?? "skipped";
    default:
      return `FAILED: ${a.reason}`;
  }
}
