/** The template engine shared by the injector (key templates of environment values) and the
 * CSI driver (file templates): a strict subset of Go's text/template with the `${` `}`
 * delimiters of the module this product replaces. Parsed once into an AST
 * (compileTemplate), rendered each time the data changes (Template.render).
 *
 *   ${.username}                      a field of the data
 *   ${.db.password | urlquery}        a pipeline: the value goes last into the next function
 *   ${index . "my-key"}               a key that is not a field name
 *   ${default "5432" .port}           a function call with arguments
 *   ${.a | default (.b | trim)}       parentheses nest a pipeline
 *   ${- .x -}                         trims the blanks before / after the action
 *
 * No control flow, no variables, no comments; every function is in functions.ts. A template
 * is bounded in length, nesting and output, and a failure is a TemplateError naming its
 * subject, the position and the reason, never a value. */
import { positionOf, TemplateError } from "./error.ts";
import {
  type Arg,
  FunctionError,
  FUNCTIONS,
  kindOf,
  Missing,
  type TemplateFunction,
} from "./functions.ts";
import { asText, depthOf, type Value } from "./render_value.ts";

export interface TemplateLimits {
  /** Characters of template text. */
  maxTemplateChars: number;
  /** UTF-8 bytes of one rendering, and of any value computed on the way. */
  maxOutputBytes: number;
  /** Levels of parentheses in a template, and of nesting in a value rendered as JSON/YAML. */
  maxDepth: number;
}

export const DEFAULT_LIMITS: TemplateLimits = {
  maxTemplateChars: 128 * 1024,
  maxOutputBytes: 1024 * 1024,
  maxDepth: 32,
};

/** What a masked rendering shows for each action: of fixed length, so it tells nothing. */
export const MASK = "********";

export interface CompileOptions {
  /** Names the template in errors: `Variable DB_URL`, `SecretsStoreImport ns/x, file "f"`. */
  subject: string;
  /** The template is `source.slice(start, end)`; positions count in the whole source, so an
   * error in a key template points into the variable's value. */
  start?: number;
  end?: number;
  limits?: Partial<TemplateLimits>;
}

export interface RenderOptions {
  /** Each action's output replaced by MASK (still evaluated, so errors show): dry runs. */
  mask?: boolean;
}

type Field = { name: string; at: number };
type Operand =
  | { kind: "field"; at: number; path: Field[] } // an empty path is the dot itself
  | { kind: "literal"; at: number; value: string | number }
  | { kind: "pipeline"; at: number; pipeline: Pipeline };
type Command =
  | { kind: "call"; at: number; name: string; fn: TemplateFunction; args: Operand[] }
  | { kind: "operand"; at: number; operand: Operand };
interface Pipeline {
  at: number;
  commands: Command[];
}
type Node = string | { at: number; pipeline: Pipeline };

/** A parsed template; render() may be called any number of times. */
export class Template {
  /** @internal made by compileTemplate() */
  constructor(
    readonly subject: string,
    readonly source: string,
    readonly nodes: readonly Node[],
    readonly limits: TemplateLimits,
  ) {}

  /** The text for `data`, whole, or a TemplateError: never a part of it. */
  render(data: Value, o: RenderOptions = {}): string {
    const parts: string[] = [];
    let bytes = 0;
    for (const node of this.nodes) {
      let piece: string;
      if (typeof node === "string") piece = node;
      else {
        const v = this.#pipeline(node.pipeline, data);
        if (v instanceof Missing) throw this.#missing(v);
        this.#checkDepth(v, node.at);
        piece = asText(v);
      }
      bytes += utf8Length(piece);
      if (bytes > this.limits.maxOutputBytes) {
        throw this.#tooLarge(typeof node === "string" ? undefined : node.at);
      }
      parts.push(o.mask && typeof node !== "string" ? MASK : piece);
    }
    return parts.join("");
  }

  #pipeline(p: Pipeline, dot: Value): Arg {
    let value: Arg | undefined;
    for (const [i, cmd] of p.commands.entries()) {
      value = this.#command(cmd, dot, i > 0 ? value! : undefined, i > 0);
    }
    return value!;
  }

  #command(cmd: Command, dot: Value, piped: Arg | undefined, isPiped: boolean): Arg {
    if (cmd.kind === "operand") return this.#operand(cmd.operand, dot);
    const args = cmd.args.map((a) => this.#operand(a, dot));
    if (isPiped) args.push(piped!);
    for (const a of args) {
      if (a instanceof Missing && !cmd.fn.takesMissing) throw this.#missing(a);
      if (cmd.fn.walks) this.#checkDepth(a, cmd.at);
    }
    let out: Arg;
    try {
      out = cmd.fn.call(args, cmd.at);
    } catch (e) {
      if (!(e instanceof FunctionError)) throw e;
      throw this.#error(`${cmd.name}: ${e.message}`, cmd.at);
    }
    if (typeof out === "string" && overBytes(out, this.limits.maxOutputBytes)) {
      throw this.#tooLarge(cmd.at);
    }
    return out;
  }

  #operand(op: Operand, dot: Value): Arg {
    if (op.kind === "literal") return op.value;
    if (op.kind === "pipeline") return this.#pipeline(op.pipeline, dot);
    let v: Arg = dot;
    for (const f of op.path) {
      if (v instanceof Missing) return v;
      if (v === null || typeof v !== "object" || Array.isArray(v)) {
        throw this.#error(`cannot read field "${f.name}" of a ${kindOf(v)}`, f.at);
      }
      // Own properties only: "__proto__", "constructor" and the like are plain missing fields.
      if (!Object.hasOwn(v, f.name)) return new Missing(f.at, `no field "${f.name}"`);
      v = Object.getOwnPropertyDescriptor(v, f.name)!.value as Value;
    }
    return v;
  }

  #checkDepth(v: Arg, at: number): void {
    if (v instanceof Missing || v === null || typeof v !== "object") return;
    if (depthOf(v, this.limits.maxDepth) > this.limits.maxDepth) {
      throw this.#error(
        `the value is nested deeper than ${this.limits.maxDepth} levels (maxDepth)`,
        at,
      );
    }
  }

  #missing(m: Missing): TemplateError {
    return this.#error(m.what, m.at);
  }

  #tooLarge(at: number | undefined): TemplateError {
    return this.#error(
      `the output is over ${this.limits.maxOutputBytes} bytes (maxOutputBytes)`,
      at,
    );
  }

  #error(reason: string, at: number | undefined): TemplateError {
    return new TemplateError(
      this.subject,
      reason,
      at === undefined ? undefined : positionOf(this.source, at),
    );
  }
}

/** Parses the template; a TemplateError names the subject, the position and the problem. */
export function compileTemplate(source: string, o: CompileOptions): Template {
  const limits = { ...DEFAULT_LIMITS, ...o.limits };
  const start = o.start ?? 0;
  const end = o.end ?? source.length;
  if (end - start > limits.maxTemplateChars) {
    throw new TemplateError(
      o.subject,
      `the template is ${
        end - start
      } characters, over the limit of ${limits.maxTemplateChars} (maxTemplateChars)`,
    );
  }
  const p = new Parser(source, start, end, o.subject, limits);
  return new Template(o.subject, source, p.parse(), limits);
}

/** True when `text` holds an action, i.e. is a template rather than a plain key. */
export function hasAction(text: string): boolean {
  return text.includes("${");
}

type Token =
  | { type: "close" | "closeTrim" | "pipe" | "lparen" | "rparen" | "eof"; at: number }
  | { type: "field"; at: number; path: Field[] }
  | { type: "literal"; at: number; value: string | number }
  | { type: "ident"; at: number; name: string };

const IDENT_START = /[\p{L}_]/u;
const IDENT_PART = /[\p{L}\p{N}_]/u;
const SPACE = /[ \t\r\n]/;

class Parser {
  #pos: number;
  #peeked: Token | undefined;

  constructor(
    readonly source: string,
    start: number,
    readonly end: number,
    readonly subject: string,
    readonly limits: TemplateLimits,
  ) {
    this.#pos = start;
  }

  parse(): Node[] {
    const nodes: Node[] = [];
    let trimNext = false;
    const text = (t: string) => {
      if (trimNext) t = t.replace(/^[ \t\r\n]+/, "");
      trimNext = false;
      if (t) nodes.push(t);
    };
    while (this.#pos < this.end) {
      const open = this.source.indexOf("${", this.#pos);
      if (open === -1 || open + 2 > this.end) {
        text(this.source.slice(this.#pos, this.end));
        break;
      }
      let before = this.source.slice(this.#pos, open);
      this.#pos = open + 2;
      // Go's trim marker is "{{- " with a blank after it; "${-3}" is the number -3.
      if (this.source[this.#pos] === "-" && SPACE.test(this.source[this.#pos + 1] ?? "")) {
        before = before.replace(/[ \t\r\n]+$/, "");
        this.#pos++;
      }
      text(before);
      const pipeline = this.#pipeline(open, 0, "close");
      nodes.push({ at: open, pipeline });
      trimNext = this.#closedWithTrim;
    }
    return nodes;
  }

  #closedWithTrim = false;

  #pipeline(at: number, depth: number, closer: "close" | "rparen"): Pipeline {
    if (depth > this.limits.maxDepth) {
      throw this.#error(
        `parentheses nested deeper than ${this.limits.maxDepth} levels (maxDepth)`,
        at,
      );
    }
    const commands: Command[] = [];
    for (;;) {
      commands.push(this.#command(depth, commands.length > 0));
      const t = this.#next();
      if (t.type === "pipe") continue;
      if (closer === "close" && (t.type === "close" || t.type === "closeTrim")) {
        this.#closedWithTrim = t.type === "closeTrim";
        return { at, commands };
      }
      if (closer === "rparen" && t.type === "rparen") return { at, commands };
      if (t.type === "eof") {
        throw closer === "close"
          ? this.#error('unterminated action: no "}" after "${"', at)
          : this.#error('unclosed "("', at);
      }
      throw this.#error(
        `unexpected ${describe(t)} in ${closer === "close" ? "action" : "parentheses"}`,
        t.at,
      );
    }
  }

  #command(depth: number, piped: boolean): Command {
    const t = this.#peek();
    if (t.type === "ident") {
      this.#next();
      const fn = FUNCTIONS.get(t.name);
      if (!fn) throw this.#error(`unknown function "${t.name}"`, t.at);
      const args: Operand[] = [];
      for (let n = this.#peek(); isOperandStart(n) || n.type === "ident"; n = this.#peek()) {
        args.push(this.#operand(depth));
      }
      const count = args.length + (piped ? 1 : 0);
      if (count < fn.min || count > fn.max) {
        const wanted = fn.min === fn.max ? `${fn.min}` : `${fn.min} to ${fn.max}`;
        throw this.#error(
          `function "${t.name}" takes ${wanted} argument(s), got ${count}${
            piped ? " (the piped value counts as the last)" : ""
          }`,
          t.at,
        );
      }
      return { kind: "call", at: t.at, name: t.name, fn, args };
    }
    if (isOperandStart(t)) {
      if (piped) throw this.#error('only a function can follow "|"', t.at);
      const operand = this.#operand(depth);
      const after = this.#peek();
      if (isOperandStart(after) || after.type === "ident") {
        throw this.#error(
          `unexpected ${describe(after)}: only a function takes arguments`,
          after.at,
        );
      }
      return { kind: "operand", at: t.at, operand };
    }
    if (t.type === "eof") this.#next(); // reported by the caller as unterminated
    throw this.#error(
      t.type === "eof"
        ? 'unterminated action: no "}" after "${"'
        : `missing value before ${describe(t)}`,
      t.at,
    );
  }

  #operand(depth: number): Operand {
    const t = this.#next();
    if (t.type === "field") return { kind: "field", at: t.at, path: t.path };
    if (t.type === "literal") return { kind: "literal", at: t.at, value: t.value };
    if (t.type === "lparen") {
      return { kind: "pipeline", at: t.at, pipeline: this.#pipeline(t.at, depth + 1, "rparen") };
    }
    if (t.type === "ident") {
      throw this.#error(
        `function "${t.name}" used as an argument: put it in parentheses, e.g. (${t.name} .x)`,
        t.at,
      );
    }
    throw this.#error(`unexpected ${describe(t)}`, t.at);
  }

  #peek(): Token {
    return this.#peeked ??= this.#lex();
  }

  #next(): Token {
    const t = this.#peek();
    this.#peeked = undefined;
    return t;
  }

  #lex(): Token {
    const s = this.source;
    while (this.#pos < this.end && SPACE.test(s[this.#pos]!)) this.#pos++;
    const at = this.#pos;
    if (at >= this.end) return { type: "eof", at };
    const c = s[at]!;
    if (c === "}") return this.#take(1, { type: "close", at });
    // Go's closing trim marker is " -}", with a blank before it.
    if (c === "-" && s[at + 1] === "}" && at + 1 < this.end && SPACE.test(s[at - 1] ?? "")) {
      return this.#take(2, { type: "closeTrim", at });
    }
    if (c === "|") return this.#take(1, { type: "pipe", at });
    if (c === "(") return this.#take(1, { type: "lparen", at });
    if (c === ")") return this.#take(1, { type: "rparen", at });
    if (c === ".") return this.#field(at);
    if (c === '"') return this.#quoted(at);
    if (c === "`") return this.#raw(at);
    if (/[0-9]/.test(c) || (c === "-" && /[0-9]/.test(s[at + 1] ?? ""))) return this.#number(at);
    if (IDENT_START.test(c)) {
      const name = this.#ident();
      return { type: "ident", at, name };
    }
    if (c === "$") throw this.#error("variables ($) are not supported", at);
    throw this.#error(`unexpected character ${JSON.stringify(c)}`, at);
  }

  #take<T extends Token>(n: number, t: T): T {
    this.#pos += n;
    return t;
  }

  #ident(): string {
    const from = this.#pos;
    this.#pos++;
    while (this.#pos < this.end && IDENT_PART.test(this.source[this.#pos]!)) this.#pos++;
    return this.source.slice(from, this.#pos);
  }

  #field(at: number): Token {
    const path: Field[] = [];
    this.#pos++; // the first "."
    for (;;) {
      const c = this.source[this.#pos];
      if (this.#pos >= this.end || c === undefined || !IDENT_START.test(c)) break;
      const fieldAt = this.#pos;
      path.push({ name: this.#ident(), at: fieldAt });
      if (this.source[this.#pos] !== "." || this.#pos + 1 >= this.end) break;
      const nextChar = this.source[this.#pos + 1]!;
      if (!IDENT_START.test(nextChar)) {
        throw this.#error(`a field name must follow "."`, this.#pos);
      }
      this.#pos++;
    }
    return { type: "field", at, path };
  }

  #number(at: number): Token {
    const m = /^-?[0-9]+(\.[0-9]+)?/.exec(this.source.slice(at, Math.min(this.end, at + 40)))!;
    this.#pos += m[0].length;
    const value = Number(m[0]);
    if (!Number.isSafeInteger(value) && !m[1]) throw this.#error("number out of range", at);
    return { type: "literal", at, value };
  }

  #raw(at: number): Token {
    const close = this.source.indexOf("`", at + 1);
    if (close === -1 || close >= this.end) throw this.#error("unterminated raw string", at);
    this.#pos = close + 1;
    return { type: "literal", at, value: this.source.slice(at + 1, close) };
  }

  #quoted(at: number): Token {
    let out = "";
    let i = at + 1;
    for (;;) {
      if (i >= this.end) throw this.#error("unterminated string", at);
      const c = this.source[i]!;
      if (c === '"') break;
      if (c === "\n") throw this.#error("unterminated string (a newline inside quotes)", at);
      if (c !== "\\") {
        out += c;
        i++;
        continue;
      }
      const e = this.source[i + 1];
      const simple: Record<string, string> = { n: "\n", t: "\t", r: "\r", "\\": "\\", '"': '"' };
      if (e !== undefined && Object.hasOwn(simple, e)) {
        out += simple[e];
        i += 2;
        continue;
      }
      const hex = e === "x" ? 2 : e === "u" ? 4 : 0;
      const digits = this.source.slice(i + 2, i + 2 + hex);
      if (hex && i + 2 + hex <= this.end && new RegExp(`^[0-9a-fA-F]{${hex}}$`).test(digits)) {
        out += String.fromCharCode(parseInt(digits, 16));
        i += 2 + hex;
        continue;
      }
      throw this.#error(
        `unknown escape ${
          JSON.stringify("\\" + (e ?? ""))
        } in string (known: \\n \\t \\r \\\\ \\" \\xHH \\uHHHH)`,
        i,
      );
    }
    this.#pos = i + 1;
    return { type: "literal", at, value: out };
  }

  #error(reason: string, at: number): TemplateError {
    return new TemplateError(this.subject, reason, positionOf(this.source, at));
  }
}

function isOperandStart(t: Token): boolean {
  return t.type === "field" || t.type === "literal" || t.type === "lparen";
}

function describe(t: Token): string {
  switch (t.type) {
    case "close":
    case "closeTrim":
      return '"}"';
    case "pipe":
      return '"|"';
    case "lparen":
      return '"("';
    case "rparen":
      return '")"';
    case "eof":
      return "end of template";
    case "field":
      return t.path.length ? `field ".${t.path.map((f) => f.name).join(".")}"` : '"."';
    case "literal":
      return typeof t.value === "number" ? "number" : "string";
    case "ident":
      return `function "${t.name}"`;
  }
}

/** UTF-8 bytes of `s`, counted without encoding it. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

function overBytes(s: string, limit: number): boolean {
  if (s.length > limit) return true; // every unit is at least one byte
  return s.length * 3 > limit && utf8Length(s) > limit;
}
