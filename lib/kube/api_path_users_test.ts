/** Every Kubernetes API path of the product is built by api_path.ts from checked names, so
 * this test fails when any other file of lib/ or commands/ holds an API path in a string or
 * template literal. Tests are not scanned: they call the API as the attacker and the admin. */
import { assertEquals } from "../../tests/harness/assert.ts";

const ROOT = new URL("../../", import.meta.url);
const BUILDER = "lib/kube/api_path.ts";

/** What starts or continues an API path: `/api/v1`, `/apis/<group>`, `namespaces/<ns>`,
 * and the collections the product reads as a path segment (`/secrets/` only when a name
 * follows: `/var/run/secrets/kubernetes.io/...` is a file). Case is ignored: the API server
 * routes only lower case, but a hand-built path need not be. */
const API_PATH =
  /\/api\/v1|\/apis\/|namespaces\/|\/(serviceaccounts|secretsstoreimports)\/|\/secrets\/\$\{/i;

/** The string and template literals of one line, roughly: enough to tell a path in a string
 * from one in a comment (comments may name the paths they stand for). */
const LITERAL = /"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`/g;

/** `file:line: text` for each literal holding an API path in `text` (the file's content). */
export function apiPathLiterals(file: string, text: string): string[] {
  const found: string[] = [];
  // Template literals may span lines: match on the whole text, report the starting line.
  const code = stripComments(text);
  for (const m of code.matchAll(LITERAL)) {
    if (API_PATH.test(m[0])) {
      const line = code.slice(0, m.index).split("\n").length;
      found.push(`${file}:${line}: ${text.split("\n")[line - 1]!.trim()}`);
    }
  }
  return found;
}

/** The text with `//` and block comments blanked out (newlines kept, so line numbers hold),
 * leaving string and template literals as they are. */
function stripComments(text: string): string {
  return text.replace(
    /("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`)|\/\*[\s\S]*?\*\/|\/\/[^\n]*/g,
    (all, literal) => literal ?? all.replace(/[^\n]/g, " "),
  );
}

async function* tsFiles(dir: URL, rel: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const path = `${rel}/${e.name}`;
    if (e.isDirectory) yield* tsFiles(new URL(`${e.name}/`, dir), path);
    else if (e.isFile && e.name.endsWith(".ts") && !e.name.endsWith("_test.ts")) yield path;
  }
}

Deno.test("no file of lib/ or commands/ but lib/kube/api_path.ts builds a Kubernetes API path", async () => {
  const found: string[] = [];
  let scanned = 0;
  for (const top of ["lib", "commands"]) {
    for await (const file of tsFiles(new URL(`${top}/`, ROOT), top)) {
      scanned++;
      if (file === BUILDER) continue;
      found.push(...apiPathLiterals(file, await Deno.readTextFile(new URL(file, ROOT))));
    }
  }
  if (scanned < 50) throw new Error(`only ${scanned} files scanned: wrong root ${ROOT}?`);
  assertEquals(found, [], `API paths built outside ${BUILDER}:\n${found.join("\n")}`);
});

Deno.test("the scan finds the ways a path was built by hand, and skips comments", () => {
  const text = [
    "// GET /api/v1/namespaces/<ns>/secrets/<name> (a comment)",
    "const a = `/api/v1/namespaces/${ns}/secrets/${name}`;",
    'const b = "/apis/deckhouse.io/v1alpha1/" + "namespaces/" + ns;',
    "const c = '/API/V1/x';",
    "/* `/apis/x` */ const d = `${root}/namespaces/${ns}`;",
    "const e = [base, 'secrets/', name].join('') + `/serviceaccounts/${sa}`;",
    "const g = `${base}/secrets/${name}`;",
    "const f = `multi",
    "  /apis/${group}`;",
    'const ok = "/var/run/secrets/kubernetes.io/serviceaccount/token";',
  ].join("\n");
  assertEquals(apiPathLiterals("x.ts", text), [
    "x.ts:2: const a = `/api/v1/namespaces/${ns}/secrets/${name}`;",
    'x.ts:3: const b = "/apis/deckhouse.io/v1alpha1/" + "namespaces/" + ns;',
    'x.ts:3: const b = "/apis/deckhouse.io/v1alpha1/" + "namespaces/" + ns;',
    "x.ts:4: const c = '/API/V1/x';",
    "x.ts:5: /* `/apis/x` */ const d = `${root}/namespaces/${ns}`;",
    "x.ts:6: const e = [base, 'secrets/', name].join('') + `/serviceaccounts/${sa}`;",
    "x.ts:7: const g = `${base}/secrets/${name}`;",
    "x.ts:8: const f = `multi",
  ]);
});
