import { assert, assertEquals } from "../../tests/harness/assert.ts";
import { within } from "../../tests/harness/within.ts";
import { batchedStderr } from "./batched.ts";
import { createLogger } from "./logger.ts";

Deno.test("lines logged in one turn of the event loop leave in one write, in order", async () => {
  const writes: string[] = [];
  let written!: () => void;
  const first = new Promise<void>((r) => written = r);
  const out = batchedStderr((b) => {
    writes.push(new TextDecoder().decode(b));
    written();
    return b.length;
  });
  const log = createLogger({ write: out.write });
  log.info("one");
  log.info("two");
  assertEquals(writes.length, 0, "nothing is written before the turn ends");
  await within(5_000, "the batched write", first);
  assertEquals(writes.length, 1);
  assertEquals(writes[0]!.trimEnd().split("\n").map((l) => l.split(" ").at(-1)), ["one", "two"]);
  log.info("three");
  out.flush();
  assertEquals(writes.length, 2, "flush() writes at once");
  assertEquals(writes[1]!.trimEnd().split(" ").at(-1), "three");
});

Deno.test("a short write is continued until every byte is out", () => {
  const got: number[] = [];
  // A pipe may take fewer bytes than offered.
  const out = batchedStderr((b) => (got.push(...b.subarray(0, 3)), Math.min(3, b.length)));
  out.write("abcdefgh");
  out.flush();
  assertEquals(new TextDecoder().decode(new Uint8Array(got)), "abcdefgh\n");
});

Deno.test("more than a buffer of lines goes out whole and in order, characters unsplit", () => {
  const chunks: Uint8Array[] = [];
  const out = batchedStderr((b) => (chunks.push(b.slice()), b.length));
  // 3-byte and 4-byte characters, so a buffer boundary falls inside some of them.
  const lines = Array.from({ length: 3000 }, (_, i) => `line ${i} ключ 🔑 ${"x".repeat(i % 50)}`);
  for (const l of lines) out.write(l);
  out.flush();
  assert(chunks.length > 1, "the text is larger than one buffer");
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  chunks.reduce((off, c) => (all.set(c, off), off + c.length), 0);
  const strict = new TextDecoder("utf-8", { fatal: true });
  assertEquals(strict.decode(all), lines.join("\n") + "\n");
  // Decoding throws on a chunk that ends or starts inside a character.
  for (const c of chunks) strict.decode(c);
});
