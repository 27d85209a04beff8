/** The Prometheus text exposition format (version 0.0.4): names checked, label values and
 * help texts escaped, numbers written as Prometheus reads them. Every role's /metrics text is
 * written through these functions, so one set of rules holds for all of them. */

/** What GET /metrics answers with. */
export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export type MetricType = "counter" | "gauge" | "histogram";

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Throws naming the metric unless `name` is a valid metric name. */
export function checkMetricName(name: string): string {
  if (!METRIC_NAME.test(name)) throw new TypeError(`Invalid metric name "${name}"`);
  return name;
}

/** Throws naming the metric unless `label` is a valid label name (`__` names are reserved). */
export function checkLabelName(metric: string, label: string): string {
  if (!LABEL_NAME.test(label) || label.startsWith("__") || label === "le") {
    throw new TypeError(`Invalid label name "${label}" of metric ${metric}`);
  }
  return label;
}

/** A label value inside its double quotes: backslash, double quote and line feed escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => c === "\n" ? "\\n" : `\\${c}`);
}

/** A HELP text: backslash and line feed escaped (a double quote stays). */
export function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => c === "\n" ? "\\n" : "\\\\");
}

/** A sample value: integers exactly, floats as JavaScript writes them, and the special
 * values in the spelling Prometheus parses. */
export function formatValue(v: number | bigint): string {
  if (typeof v === "bigint") return v.toString();
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

/** `{a="x",b="y"}`, or "" for no labels. */
export function formatLabels(labels: ReadonlyArray<readonly [string, string]>): string {
  if (!labels.length) return "";
  return `{${labels.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(",")}}`;
}

/** The HELP and TYPE lines of one family. */
export function header(name: string, type: MetricType, help: string): string[] {
  return [`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`];
}

/** One sample line. */
export function sample(
  name: string,
  labels: ReadonlyArray<readonly [string, string]>,
  value: number | bigint,
): string {
  return `${name}${formatLabels(labels)} ${formatValue(value)}`;
}

/** One family with unlabelled samples, as the process and build metrics are written. */
export function family(
  name: string,
  type: MetricType,
  help: string,
  samples: Array<{ labels?: ReadonlyArray<readonly [string, string]>; value: number | bigint }>,
): string[] {
  return [
    ...header(name, type, help),
    ...samples.map((s) => sample(name, s.labels ?? [], s.value)),
  ];
}
