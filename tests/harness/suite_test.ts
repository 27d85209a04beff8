/** suite.ts decides which tests of a file deno test will run: checked against deno test
 * itself, and its teardown checked to run under a filter. */
import { assertEquals, assertStringIncludes } from "./assert.ts";
import { FILTER_ENV, filterOf, selects } from "./suite.ts";

const NAMES = ["publish works", "unpublish works", "a/b (c) [d]", "stop the driver", "Publish"];

/** Names of the tests deno test ran from a file of NAMES under `filter`. */
async function ranBy(dir: string, filter: string): Promise<string[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["test", "--no-check", `--filter=${filter}`, `${dir}/names_test.ts`],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n")
    .map((l) => l.match(/^(.*) \.\.\. ok/)?.[1])
    .filter((n): n is string => n !== undefined);
}

Deno.test("selects() picks exactly the tests deno test runs under a filter", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(
      `${dir}/names_test.ts`,
      NAMES.map((n) => `Deno.test(${JSON.stringify(n)}, () => {});`).join("\n"),
    );
    for (
      const filter of ["publish", "/^un/", "/(PUBLISH|stop)/", "a/b (c)", "/[/", "/", "nothing"]
    ) {
      assertEquals(
        NAMES.filter((n) => selects(filter, n)),
        await ranBy(dir, filter),
        `--filter=${filter}`,
      );
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("filterOf() finds --filter in both spellings, the last one winning, never after --", () => {
  assertEquals(filterOf(["tests/csi_test.ts", "--filter", "myapp3"]), "myapp3");
  assertEquals(filterOf(["--filter=a", "x_test.ts", "--filter=b"]), "b");
  assertEquals(filterOf(["x_test.ts", "--", "--filter", "a"]), undefined);
  assertEquals(filterOf(["x_test.ts"]), undefined);
});

Deno.test("a suite's teardown runs after the one test a filter selects, and only once", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const suite = new URL("./suite.ts", import.meta.url).href;
    Deno.writeTextFileSync(
      `${dir}/s_test.ts`,
      [
        `import { Suite } from ${JSON.stringify(suite)};`,
        `const s = new Suite({ setUp: async () => "state", tearDown: async (t) => console.log("teardown of " + t) });`,
        `s.test("first", async () => { await s.ready(); });`,
        `s.test("second", async () => { await s.ready(); console.log("second ran"); });`,
        `s.test("third", async () => { await s.ready(); });`,
      ].join("\n"),
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["test", "--no-check", "--allow-env", "--filter=second", `${dir}/s_test.ts`],
      env: { NO_COLOR: "1", [FILTER_ENV]: "second" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assertEquals(out.code, 0, text);
    assertStringIncludes(text, "second ran");
    assertEquals(text.split("teardown of state").length - 1, 1, text);
    assertStringIncludes(text, "2 filtered out");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
