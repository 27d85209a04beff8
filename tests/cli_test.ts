/** The command line as a user meets it: help, version, usage errors and exit codes. */
import { assertEquals, assertStringIncludes } from "./harness/assert.ts";
import { ROOT } from "./harness/process.ts";
import { VERSION } from "../lib/version.ts";

async function cli(...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", `${ROOT}/main.ts`, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

Deno.test("--help lists every role and exits 0", async () => {
  const r = await cli("--help");
  assertEquals(r.code, 0);
  for (const role of ["webhook", "csi", "inject", "copy-self", "check-install", "version"]) {
    assertStringIncludes(r.stdout, role);
  }
});

Deno.test("each subcommand has its own --help", async () => {
  for (
    const args of [
      ["webhook", "serve"],
      ["csi", "serve"],
      ["inject"],
      ["copy-self"],
      ["check-install"],
      ["version"],
    ]
  ) {
    const r = await cli(...args, "--help");
    assertEquals(r.code, 0, `${args.join(" ")} --help: ${r.stderr}`);
    assertStringIncludes(r.stdout, `Usage: secrets-store ${args.join(" ")}`);
  }
});

Deno.test("version prints the product version", async () => {
  const r = await cli("version");
  assertEquals(r.code, 0);
  assertStringIncludes(r.stdout, `secrets-store ${VERSION}`);
});

Deno.test("an unknown subcommand exits 2 with a one-line reason", async () => {
  const r = await cli("bogus");
  assertEquals(r.code, 2);
  assertStringIncludes(r.stderr, "unknown command 'bogus'");
});

Deno.test("no subcommand, or a group without its subcommand, exits 2", async () => {
  assertEquals((await cli()).code, 2);
  const r = await cli("webhook");
  assertEquals(r.code, 2);
  assertStringIncludes(r.stderr, "a subcommand is required");
});

Deno.test("inject without a command exits 2 and says what is missing", async () => {
  const r = await cli("inject");
  assertEquals(r.code, 2);
  assertStringIncludes(r.stderr, "missing required argument 'command'");
});

Deno.test("webhook serve with a bad settings file stops at start-up, naming the setting", async () => {
  const file = await Deno.makeTempFile({ suffix: ".yaml" });
  try {
    await Deno.writeTextFile(file, "connectionConfiguration: Manual\ninjector: {image: x}\n");
    const r = await cli(
      "webhook",
      "serve",
      "--config",
      file,
      "--kube-server",
      "https://127.0.0.1:6443",
    );
    assertEquals(r.code, 1);
    assertStringIncludes(r.stderr, `Invalid settings in ${file}: connection.url: is required`);
    const missing = await cli("webhook", "serve", "--config", `${file}.nope`);
    assertEquals(missing.code, 1);
    assertStringIncludes(missing.stderr, "Cannot read settings file");
  } finally {
    await Deno.remove(file);
  }
});
