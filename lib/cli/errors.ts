/** Errors that decide the process exit code; only main.ts turns them into an exit. */

/** The command line itself is wrong: exit 2, like other CLI tools. */
export class UsageError extends Error {
  override name = "UsageError";
  readonly exitCode = 2;
}

/** The exit code an error asks for: its own `exitCode`, or 1. */
export function exitCodeOf(e: unknown): number {
  const code = (e as { exitCode?: unknown })?.exitCode;
  return typeof code === "number" && Number.isInteger(code) && code > 0 ? code : 1;
}

/** The app a supervising injector ran ended with this non-zero code, or was restarted; the
 * process ends with it and prints nothing, since the app (or the injector's log) has spoken. */
export class AppExit extends Error {
  override name = "AppExit";
  constructor(readonly exitCode: number) {
    super(`the app ended with exit code ${exitCode}`);
  }
}
