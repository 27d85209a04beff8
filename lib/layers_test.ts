/** The layers of lib/ (docs/ARCHITECTURE.md, "Layout of the shared pieces"), checked over the
 * import graph: a role may use services and shared code, a service only shared code, shared
 * code only shared code. A file that reaches, through any chain, a folder its layer may not
 * use is named with the import that starts the chain, so the fault is fixed where it is. */
import { assertEquals } from "../tests/harness/assert.ts";

type Layer = "role" | "service" | "shared";

/** Every folder of lib/ has a layer; a new folder must be placed here before it is used. */
const LAYERS: Record<string, Layer> = {
  webhook: "role",
  csi: "role",
  inject: "role",
  vault: "service",
  oci: "service",
  kube: "service",
  copy: "service",
  sys: "shared",
  log: "shared",
  config: "shared",
  cli: "shared",
  http: "shared",
  template: "shared",
  metrics: "shared",
  // Files directly in lib/ (version.ts).
  "": "shared",
};

const LIB = new URL("./", import.meta.url);
const ROOT = new URL("../", import.meta.url);
const MANIFEST = new URL("deno.json", ROOT);

/** Module specifiers of static, type-only, re-export, side-effect and dynamic imports. Comments
 * and string literals are matched first and skipped, so an import written in a comment or a
 * message is not taken for one. */
export function importSpecifiers(source: string): string[] {
  const token = new RegExp(
    [
      String.raw`\/\/[^\n]*`,
      String.raw`\/\*[\s\S]*?\*\/`,
      String.raw`\x60(?:\\[\s\S]|[^\x60\\])*\x60`,
      String.raw`"(?:\\.|[^"\\\n])*"`,
      String.raw`'(?:\\.|[^'\\\n])*'`,
      String.raw`\b(?:import|export)\b[^;"'\x60]*?\bfrom\s*(["'])([^"'\n]+)\1`,
      String.raw`\bimport\s*\(\s*(["'])([^"'\n]+)\3`,
      String.raw`\bimport\s*(["'])([^"'\n]+)\5`,
    ].join("|"),
    "g",
  );
  const found: string[] = [];
  for (const m of source.matchAll(token)) {
    const spec = m[2] ?? m[4] ?? m[6];
    if (spec !== undefined) found.push(spec);
  }
  return found;
}

/** The folder of lib/ a file is in ("" for lib/ itself), or undefined outside lib/. */
function folderOf(file: URL): string | undefined {
  if (!file.href.startsWith(LIB.href)) return undefined;
  const rest = file.href.slice(LIB.href.length);
  const slash = rest.indexOf("/");
  return slash < 0 ? "" : rest.slice(0, slash);
}

/** How a message names a folder: lib/ for the files directly in it. */
function dir(folder: string | undefined): string {
  return folder ? `lib/${folder}/` : "lib/";
}

function rel(file: URL): string {
  return file.href.slice(ROOT.href.length);
}

/** Whether code in folder `from` may use code in folder `to`. */
function mayUse(from: string, to: string): boolean {
  if (from === to) return true;
  const a = LAYERS[from], b = LAYERS[to];
  if (a === undefined || b === undefined) return false;
  if (a === "role") return b === "service" || b === "shared";
  return b === "shared";
}

async function sourceFiles(dir: URL): Promise<URL[]> {
  const out: URL[] = [];
  for await (const e of Deno.readDir(dir)) {
    const url = new URL(e.name + (e.isDirectory ? "/" : ""), dir);
    if (e.isDirectory) out.push(...await sourceFiles(url));
    else if (e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")) out.push(url);
  }
  return out;
}

/** The violations in lib/, one line each: "<file> imports <target>: <why>". */
export async function layerViolations(): Promise<string[]> {
  const files = await sourceFiles(LIB);
  const edges = new Map<string, URL[]>();
  const problems: string[] = [];
  for (const file of files) {
    const folder = folderOf(file)!;
    if (LAYERS[folder] === undefined) {
      problems.push(`${rel(file)}: folder ${dir(folder)} has no layer in lib/layers_test.ts`);
    }
    const targets: URL[] = [];
    for (const spec of importSpecifiers(await Deno.readTextFile(file))) {
      if (!spec.startsWith(".")) continue; // npm:, node:, jsr: and bare names from deno.json
      targets.push(new URL(spec, file));
    }
    edges.set(file.href, targets);
  }

  // Every lib/ file each file reaches, through any chain of imports.
  const reach = new Map<string, Set<string>>();
  const reachOf = (href: string, seen = new Set<string>()): Set<string> => {
    const known = reach.get(href);
    if (known) return known;
    if (seen.has(href)) return new Set(); // a cycle: its members are collected by the first
    seen.add(href);
    const all = new Set<string>();
    for (const t of edges.get(href) ?? []) {
      all.add(t.href);
      for (const r of reachOf(t.href, seen)) all.add(r);
    }
    reach.set(href, all);
    return all;
  };

  for (const file of files) {
    const from = folderOf(file)!;
    if (LAYERS[from] === undefined) continue; // named above, once
    for (const target of edges.get(file.href)!) {
      const to = folderOf(target);
      if (to === undefined) {
        if (target.href === MANIFEST.href) continue; // the version, read from deno.json
        problems.push(`${rel(file)} imports ${rel(target)}: lib/ may not import outside lib/`);
        continue;
      }
      if (!mayUse(from, to)) {
        problems.push(
          `${rel(file)} imports ${rel(target)}: ${LAYERS[from]} ${dir(from)} may not use ` +
            `${LAYERS[to] ?? "unplaced"} ${dir(to)}`,
        );
        continue;
      }
      // A chain inside one folder is named where it leaves the folder.
      if (to === from) continue;
      const beyond = [...reachOf(target.href)].find((r) => {
        const f = folderOf(new URL(r));
        return f !== undefined && !mayUse(from, f);
      });
      if (beyond !== undefined) {
        problems.push(
          `${rel(file)} imports ${rel(target)}, which reaches ${rel(new URL(beyond))}: ` +
            `${LAYERS[from]} ${dir(from)} may not use ${dir(folderOf(new URL(beyond)))}`,
        );
      }
    }
  }
  return [...new Set(problems)].sort();
}

Deno.test("importSpecifiers() finds every form of import and none in comments or strings", () => {
  const src = [
    `import { a } from "./a.ts";`,
    `import type { B } from '../b/b.ts';`,
    `import {\n  c,\n  type D,\n} from "./c.ts";`,
    `export { e } from "./e.ts";`,
    `export * from "./f.ts";`,
    `import "./g.ts";`,
    `const h = await import("./h.ts");`,
    `// import { x } from "./comment.ts";`,
    `/* import "./block.ts"; */`,
    `const msg = 'import { y } from "./string.ts"';`,
    'const t = `import "./template.ts"`;',
    `export const k = Array.from("ab");`,
    `import { z } from "zod";`,
  ].join("\n");
  assertEquals(importSpecifiers(src), [
    "./a.ts",
    "../b/b.ts",
    "./c.ts",
    "./e.ts",
    "./f.ts",
    "./g.ts",
    "./h.ts",
    "zod",
  ]);
});

Deno.test("lib/ imports follow the layers: roles → services → shared code", async () => {
  assertEquals(await layerViolations(), []);
});
