/** Reads an answer's body with a limit: a peer that declares, or simply sends, more than the
 * reader can use must not fill the heap. */

/** Thrown when a body passes its limit; the rest of the body is never read. */
export class BodyTooLargeError extends RangeError {
  override name = "BodyTooLargeError";
  constructor(readonly limit: number) {
    super(`answer larger than ${limit} bytes`);
  }
}

/** The body of `res` as text, refused once it passes `max` bytes, declared or as it arrives. */
export async function readLimited(res: Response, max: number): Promise<string> {
  if (Number(res.headers.get("content-length") ?? 0) > max) {
    await res.body?.cancel();
    throw new BodyTooLargeError(max);
  }
  if (!res.body) return "";
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    size += chunk.length;
    // Leaving the loop early cancels the body, so the rest is never read.
    if (size > max) throw new BodyTooLargeError(max);
    chunks.push(chunk);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return new TextDecoder().decode(all);
}
