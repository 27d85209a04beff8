/** Setup shared by the tests of one integration file, and a teardown that runs whatever
 * `--filter` selects. deno test has no afterAll (and JSR's @std/testing/bdd is unreachable
 * here), so the teardown runs at the end of the last test of the file that the filter
 * selects: tests/run.ts passes the filter on in FILTER_ENV, read here as deno test reads it.
 * Should that test never come (a --fail-fast stop, a filter read differently), the file's
 * unload event still runs `onUnload`, and process.ts kills the servers it spawned there;
 * only synchronous work runs at unload. Every test of the file goes through `suite.test()`. */

/** Where tests/run.ts puts the `--filter` it passes to deno test. */
export const FILTER_ENV = "SECRETS_STORE_TEST_FILTER";

/** The `--filter` among deno test arguments (the last one wins, as in deno's flag parser). */
export function filterOf(args: readonly string[]): string | undefined {
  let filter: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--") break; // the rest goes to the test modules
    if (a === "--filter") filter = args[++i];
    else if (a.startsWith("--filter=")) filter = a.slice("--filter=".length);
  }
  return filter;
}

/** Whether deno test runs a test named `name` under `filter`: `/re/` is a regular expression
 * (one that does not compile matches nothing), anything else a substring. */
export function selects(filter: string | undefined, name: string): boolean {
  if (filter === undefined || filter === "") return true;
  if (filter.startsWith("/") && filter.endsWith("/")) {
    try {
      return new RegExp(filter.replace(/^\/+/, "").replace(/\/+$/, "")).test(name);
    } catch {
      return false;
    }
  }
  return name.includes(filter);
}

export interface SuiteOptions<T> {
  /** Started by the first test that asks for it (`ready()`), once. */
  setUp: () => Promise<T>;
  /** Undoes setUp; runs once, after the last selected test, only if setUp ran and succeeded.
   * A failure here fails that test (e.g. "no mount is left behind"). */
  tearDown: (t: T) => Promise<void>;
  /** Synchronous last resort at the file's unload when tearDown did not run or failed. */
  onUnload?: () => void;
}

type TestOptions = Omit<Deno.TestDefinition, "name" | "fn">;

/** The shared state of one test file; see the file comment. */
export class Suite<T> {
  readonly #o: SuiteOptions<T>;
  readonly #filter: string | undefined;
  #started: Promise<T> | undefined;
  #selected = 0;
  #finished = 0;
  #tornDown = false;
  /** Set once tearDown has finished (during it, ready() still answers, for its own use). */
  #ended = false;
  /** tearDown finished without an error: nothing is left for unload. */
  #clean = false;

  constructor(o: SuiteOptions<T>, filter = Deno.env.get(FILTER_ENV)) {
    this.#o = o;
    this.#filter = filter;
    globalThis.addEventListener("unload", () => {
      if (this.#started && !this.#clean) this.#o.onUnload?.();
    });
  }

  /** The setup, started on first call. */
  ready(): Promise<T> {
    if (this.#ended) {
      return Promise.reject(
        new Error(`setup asked for after teardown: ${FILTER_ENV} was read unlike deno test`),
      );
    }
    return this.#started ??= this.#o.setUp();
  }

  /** Registers a test; the last selected one tears the suite down when it ends. */
  test(name: string, fn: () => Promise<void> | void, opts: TestOptions = {}): void {
    if (!opts.ignore && selects(this.#filter, name)) this.#selected++;
    Deno.test({
      ...opts,
      name,
      fn: async () => {
        try {
          await fn();
        } finally {
          if (++this.#finished >= this.#selected) await this.#tearDown();
        }
      },
    });
  }

  async #tearDown(): Promise<void> {
    if (this.#tornDown) return;
    this.#tornDown = true;
    try {
      if (!this.#started) return;
      let state: T;
      try {
        state = await this.#started;
      } catch {
        this.#o.onUnload?.(); // a half-done setup: undo what can be undone synchronously
        return;
      }
      await this.#o.tearDown(state);
      this.#clean = true;
    } finally {
      this.#ended = true;
    }
  }
}
