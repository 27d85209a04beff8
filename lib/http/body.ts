/** Reads an answer's body with a size limit. `Response.text()` buffers whatever the peer
 * sends, and a chunked answer carries no length to check first, so a hostile or broken
 * server could make the process hold an unbounded body. */

/** The body went past the limit; the rest was not read. */
export class BodyTooLargeError extends Error {
  override name = "BodyTooLargeError";
  constructor(readonly max: number) {
    super(`answer larger than ${max} bytes`);
  }
}

/** The whole body, or BodyTooLargeError as soon as it passes `max` bytes (before reading
 * when the answer declares its length). Network errors while reading are passed through. */
export async function readBody(res: Response, max: number): Promise<Uint8Array> {
  if (Number(res.headers.get("content-length") ?? 0) > max) {
    await res.body?.cancel().catch(() => {});
    throw new BodyTooLargeError(max);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (res.body) {
    for await (const chunk of res.body) {
      size += chunk.length;
      // Leaving the loop early cancels the stream, so the connection is not read further.
      if (size > max) throw new BodyTooLargeError(max);
      chunks.push(chunk);
    }
  }
  return concat(chunks, size);
}

/** `chunks` joined into one buffer of `size` bytes. */
export function concat(chunks: Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) all.set(c, (at += c.length) - c.length);
  return all;
}

/** The body as text, within `max` bytes. */
export async function readText(res: Response, max: number): Promise<string> {
  return new TextDecoder().decode(await readBody(res, max));
}
