/** The one error of templates, at parse and at render time. It names what the template belongs
 * to (a variable, a file), where in the template the problem is, and why; never a value. */

/** 1-based, as editors count; a column counts characters (UTF-16 units) from the line start. */
export interface Position {
  line: number;
  column: number;
}

export class TemplateError extends TypeError {
  override name = "TemplateError";
  constructor(
    /** What the template belongs to, e.g. `Variable DB_URL` or `SecretsStoreImport a/b, file "c"`. */
    readonly subject: string,
    readonly reason: string,
    readonly position?: Position | undefined,
  ) {
    super(
      `${subject}: ${position ? `at ${position.line}:${position.column}: ` : ""}${reason}`,
    );
  }
}

/** The line and column of `index` in `source`. */
export function positionOf(source: string, index: number): Position {
  let line = 1;
  let start = 0;
  for (let i = source.indexOf("\n"); i !== -1 && i < index; i = source.indexOf("\n", i + 1)) {
    line++;
    start = i + 1;
  }
  return { line, column: index - start + 1 };
}
