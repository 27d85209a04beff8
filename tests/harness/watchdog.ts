/** An overall deadline for a `deno test` run: past it the run is killed and the test still
 * running is named, read from the run's own output (deno test prints "name ..." when a test
 * starts and its result when it ends). A hung test then fails the run instead of holding CI
 * until its own timeout. */

export interface WatchedRun {
  code: number;
  /** Set when the deadline was hit: "<file> > <test>" of the test that was running. */
  overdue?: string | undefined;
}

/** Runs `deno <args>`, passing its output through, killed after `deadlineMs`. */
export async function runWithDeadline(
  args: string[],
  opts: { cwd?: string; env?: Record<string, string>; deadlineMs: number },
): Promise<WatchedRun> {
  const child = new Deno.Command(Deno.execPath(), {
    args,
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    ...(opts.env ? { env: opts.env } : {}),
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let file = "";
  let line = "";
  let overdue: string | undefined;
  const timer = setTimeout(() => {
    overdue = `${file || "(no file started)"} > ${runningTest(line) || "(between tests)"}`;
    console.error(
      `\ntest run over its deadline of ${opts.deadlineMs / 1000} s; still running: ${overdue}`,
    );
    try {
      child.kill("SIGKILL");
    } catch {
      // it ended at the same moment
    }
  }, opts.deadlineMs);
  const text = new TextDecoder();
  for await (const chunk of child.stdout) {
    await Deno.stdout.write(chunk);
    const lines = (line + text.decode(chunk, { stream: true })).split("\n");
    line = lines.pop()!;
    for (const l of lines) {
      const m = plain(l).match(/^running \d+ tests? from (.+)$/);
      if (m) file = m[1]!;
    }
  }
  const status = await child.status;
  clearTimeout(timer);
  return { code: overdue ? 124 : status.code, overdue };
}

/** The name in a line "name ..." whose result is not printed yet; steps are indented. */
function runningTest(partial: string): string {
  return plain(partial).replace(/ \.\.\.\s*$/, "").trim();
}

// deno test colours its output when it thinks stdout is a terminal.
// deno-lint-ignore no-control-regex
const plain = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "");
