/** Fault injection: puts each deliberate bug below into the source, one at a time, runs the
 * unit tests meant to catch it, and puts the file back. A mutation the tests let through
 * ("survived") is a claim the tests do not prove. Run with
 * `deno run -A scripts/faults.ts [name-filter]`; it exits 1 when any mutation survives or
 * cannot be applied (docs/testing.md).
 *
 * The file is written back in a `finally`, and SIGINT/SIGTERM write it back before exiting,
 * so an interrupted run leaves the tree as it found it. */
import { ROOT } from "../tests/harness/process.ts";

interface Mutation {
  name: string;
  /** Relative to the repository root. */
  file: string;
  /** Text that must occur exactly once in `file`. */
  find: string;
  replace: string;
  /** Unit test files that must fail with the mutation in place. */
  tests: string[];
}

export const MUTATIONS: Mutation[] = [
  {
    name: "kept value retries without the backoff bound",
    file: "lib/sys/kept_value.ts",
    find: "    const ceiling = Math.min(\n      this.o.maxRetryMs,\n",
    replace: "    const ceiling = Math.max(\n      this.o.maxRetryMs,\n",
    tests: ["lib/sys/kept_value_test.ts"],
  },
  {
    name: "kept value never re-read once known",
    file: "lib/sys/kept_value.ts",
    find: "    this.#schedule(this.o.refreshMs);",
    replace: "",
    tests: ["lib/sys/kept_value_test.ts"],
  },
  {
    name: "an injection admitted while the store's CA is unknown",
    file: "lib/webhook/admission.ts",
    find: "if (defaults.caMissing && !options.tlsSecret",
    replace: "if (defaults.caMissing && false && !options.tlsSecret",
    tests: ["lib/webhook/admission_test.ts"],
  },
  {
    name: "answer body read without its size limit",
    file: "lib/http/body.ts",
    find: "if (size > max) throw new BodyTooLargeError(max);",
    replace: "if (size > max && false) throw new BodyTooLargeError(max);",
    tests: ["lib/http/body_test.ts"],
  },
  {
    name: "histogram bucket bound exclusive (Prometheus le is inclusive)",
    file: "lib/metrics/registry.ts",
    find: "if (s <= this.buckets[i]!)",
    replace: "if (s < this.buckets[i]!)",
    tests: ["lib/metrics/registry_test.ts", "lib/webhook/metrics_test.ts"],
  },
  {
    name: "every admission answered asynchronously",
    file: "lib/webhook/admission.ts",
    find: "  return decision instanceof Promise\n    ? decision.catch(failed)",
    replace:
      "  return decision instanceof Promise || true\n    ? Promise.resolve(decision).catch(failed)",
    tests: ["lib/webhook/admission_test.ts"],
  },
  {
    name: "credential bytes left in base64's kept buffer",
    file: "lib/sys/base64.ts",
    find: "bytes.fill(0, 0, written);",
    replace: "",
    tests: ["lib/sys/base64_test.ts"],
  },
  {
    name: "refreshing cache never evicts",
    file: "lib/sys/refreshing_cache.ts",
    find: "if (!e.loading && now - e.at >= 2 * this.#ttlMs) this.#delete(k, e);",
    replace: "if (!e.loading && now - e.at >= 2 * this.#ttlMs) void k;",
    tests: ["lib/sys/refreshing_cache_test.ts"],
  },
  {
    name: "refreshing cache serves a stale value without refreshing it",
    file: "lib/sys/refreshing_cache.ts",
    find: "if (age >= this.#ttlMs && load && !entry.loading) this.#refresh(key, entry, load, now);",
    replace: "",
    tests: ["lib/sys/refreshing_cache_test.ts"],
  },
  {
    name: "refreshing cache ignores the injected clock",
    file: "lib/sys/refreshing_cache.ts",
    find: "this.#now = o.now ?? (() => performance.now());",
    replace: "this.#now = () => performance.now();",
    tests: ["lib/sys/refreshing_cache_test.ts"],
  },
  {
    name: "refreshing cache keeps more than maxEntries",
    file: "lib/sys/refreshing_cache.ts",
    find: "while (this.#entries.size > this.#maxEntries || this.#bytes > this.#maxBytes) {",
    replace: "while (this.#bytes > this.#maxBytes) {",
    tests: ["lib/sys/refreshing_cache_test.ts"],
  },
  {
    name: "refreshing cache keeps more than maxBytes",
    file: "lib/sys/refreshing_cache.ts",
    find: "while (this.#entries.size > this.#maxEntries || this.#bytes > this.#maxBytes) {",
    replace: "while (this.#entries.size > this.#maxEntries) {",
    tests: ["lib/sys/refreshing_cache_test.ts"],
  },
  {
    name: "refreshing cache lets go of the most recently used entry first",
    file: "lib/sys/refreshing_cache.ts",
    find: "    this.#entries.delete(key);\n    this.#entries.set(key, entry);\n",
    replace: "",
    tests: ["lib/sys/refreshing_cache_test.ts"],
  },
  {
    name: "refreshing cache starts a second load while one runs",
    file: "lib/sys/refreshing_cache.ts",
    find: "if (entry?.loading) return entry.loading;",
    replace: "",
    tests: ["lib/sys/refreshing_cache_test.ts"],
  },
  {
    name: "image lookup's cache refreshes references by digest like tags",
    file: "lib/oci/lookup.ts",
    find: "return ref.digest ? this.#pinned : this.#tags;",
    replace: "return this.#tags;",
    tests: ["lib/oci/lookup_test.ts"],
  },
  {
    name: "idle-connection sweeper disabled",
    file: "lib/webhook/server.ts",
    find: "for (const c of connections) if (c.deadline < now) c.timedOut();",
    replace: "for (const c of connections) if (c.deadline < now && false) c.timedOut();",
    tests: ["lib/webhook/server_test.ts"],
  },
  {
    name: "body budget check inverted",
    file: "lib/webhook/server.ts",
    find: "if (this.shared.bodyBytes + length > this.limits.bodyBudget) return false;",
    replace: "if (this.shared.bodyBytes + length <= this.limits.bodyBudget) return false;",
    tests: ["lib/webhook/server_test.ts"],
  },
  {
    name: 'store path accepts ".." segments',
    file: "lib/config/store_path.ts",
    find: 'if (segment === "." || segment === "..") return',
    replace: 'if (segment === ".") return',
    tests: ["lib/config/store_path_test.ts"],
  },
  {
    name: "store path length limit off by one",
    file: "lib/config/store_path.ts",
    find: "if (raw.length > MAX_STORE_PATH) return",
    replace: "if (raw.length > MAX_STORE_PATH + 1) return",
    tests: ["lib/config/store_path_test.ts"],
  },
  {
    name: "API path segment not percent-encoded",
    file: "lib/kube/api_path.ts",
    find: "function segment(s: string): string {\n",
    replace: "function segment(s: string): string {\n  if (s) return s;\n",
    tests: ["lib/kube/api_path_test.ts", "lib/kube/api_path_users_test.ts"],
  },
  {
    name: 'object names accept ".." (dots anywhere)',
    file: "lib/kube/api_path.ts",
    find: "const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;",
    replace: "const SUBDOMAIN = /^[a-z0-9.]([-a-z0-9.]*[a-z0-9.])?$/;",
    tests: ["lib/kube/api_path_test.ts"],
  },
  {
    name: "object name limit off by one (254 accepted)",
    file: "lib/kube/api_path.ts",
    find: "return value.length <= 253 && SUBDOMAIN.test(value);",
    replace: "return value.length <= 254 && SUBDOMAIN.test(value);",
    tests: ["lib/kube/api_path_test.ts"],
  },
  {
    name: "namespace label limit off by one (64 accepted)",
    file: "lib/kube/api_path.ts",
    find: "return value.length <= 63 && LABEL.test(value);",
    replace: "return value.length <= 64 && LABEL.test(value);",
    tests: ["lib/kube/api_path_test.ts"],
  },
  {
    name: "token claims' namespace not compared with the volume context",
    file: "lib/csi/volume_context.ts",
    find: 'disagree("pod.namespace", vr.pod.namespace, claims.namespace);',
    replace: "",
    tests: ["lib/csi/volume_context_test.ts"],
  },
  {
    name: "token audience not checked",
    file: "lib/csi/volume_context.ts",
    find: 'if (audience !== "" && !claims.audiences.includes(audience)) {',
    replace: 'if (audience !== "" && !claims.audiences.includes(audience) && false) {',
    tests: ["lib/csi/volume_context_test.ts"],
  },
  {
    name: "volume id length limit off by one (129 bytes accepted)",
    file: "lib/csi/volume_id.ts",
    find: "if (bytes > MAX_BYTES) {",
    replace: "if (bytes > MAX_BYTES + 1) {",
    tests: ["lib/csi/volume_id_test.ts"],
  },
  {
    name: 'target path accepts ".." segments',
    file: "lib/csi/target_path.ts",
    find: 's === "" || s === "." || s === ".."',
    replace: 's === "" || s === "."',
    tests: ["lib/csi/target_path_test.ts"],
  },
  {
    name: "MAX_ARG_STRLEN off by one for a variable",
    file: "lib/inject/exec_size.ts",
    find: "filter(([, bytes]) => bytes > MAX_ARG_STRLEN)",
    replace: "filter(([, bytes]) => bytes >= MAX_ARG_STRLEN)",
    tests: ["lib/inject/exec_size_test.ts"],
  },
  {
    name: "MAX_ARG_STRLEN off by one for an argument",
    file: "lib/inject/exec_size.ts",
    find: "if (bytes > MAX_ARG_STRLEN) {",
    replace: "if (bytes > MAX_ARG_STRLEN + 1) {",
    tests: ["lib/inject/exec_size_test.ts"],
  },
  {
    name: "retry makes one attempt too many",
    file: "lib/vault/retry.ts",
    find: "if (attempt >= o.retries ||",
    replace: "if (attempt > o.retries ||",
    tests: ["lib/vault/retry_test.ts"],
  },
];

type Outcome = "caught" | "survived" | "not applied";

const decoder = new TextDecoder();

/** The mutation in place while its tests run; the original text, to write back on a signal. */
let applied: { path: string; original: string } | undefined;

/** The test run in progress, ended on a signal so it does not outlive this script. */
let running: Deno.ChildProcess | undefined;

function restore() {
  if (!applied) return;
  Deno.writeTextFileSync(applied.path, applied.original);
  applied = undefined;
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => {
    restore();
    try {
      running?.kill("SIGTERM");
    } catch {
      // already ended
    }
    console.error(`\n${signal}: the mutated file was restored`);
    Deno.exit(130);
  });
}

async function tryMutation(m: Mutation): Promise<Outcome> {
  const path = `${ROOT}/${m.file}`;
  const original = await Deno.readTextFile(path);
  const at = original.indexOf(m.find);
  if (at < 0 || original.indexOf(m.find, at + 1) >= 0) {
    console.error(
      `${m.name}: the text to find occurs ${at < 0 ? "nowhere" : "twice"} in ${m.file}`,
    );
    return "not applied";
  }
  applied = { path, original };
  try {
    await Deno.writeTextFile(path, original.replace(m.find, () => m.replace));
    const run = await runTests(m.tests);
    if (Deno.env.get("FAULTS_VERBOSE")) console.error(run.output);
    return run.success ? "survived" : "caught";
  } finally {
    restore();
  }
}

/** Runs `tests` under `deno test` as the tree is now. */
async function runTests(tests: string[]): Promise<{ success: boolean; output: string }> {
  // Deno.execPath(): the real deno binary, not the node wrapper in tools/.
  const child = new Deno.Command(Deno.execPath(), {
    args: ["test", "--allow-all", "--no-check", "--quiet", ...tests],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  running = child;
  const run = await child.output().finally(() => running = undefined);
  return { success: run.success, output: decoder.decode(run.stdout) + decoder.decode(run.stderr) };
}

const filter = Deno.args[0];
const chosen = MUTATIONS.filter((m) => !filter || m.name.includes(filter));
// A test file that fails without any mutation would count every mutation as caught.
for (const tests of new Set(chosen.map((m) => m.tests.join(" ")))) {
  const run = await runTests(tests.split(" "));
  if (!run.success) {
    console.error(run.output);
    console.error(`the unmutated tree fails ${tests}: fix that first`);
    Deno.exit(2);
  }
}
const rows: Array<[Outcome, Mutation]> = [];
for (const m of chosen) {
  const outcome = await tryMutation(m);
  console.log(`${outcome.padEnd(11)}  ${m.file.padEnd(34)}  ${m.name}`);
  rows.push([outcome, m]);
}
const caught = rows.filter(([o]) => o === "caught").length;
console.log(
  `\nscore: ${caught}/${rows.length} mutations caught (${
    rows.length ? Math.round((100 * caught) / rows.length) : 0
  } %)`,
);
Deno.exit(caught === rows.length ? 0 : 1);
