/** Base64 of text's UTF-8 bytes. btoa alone takes "binary strings": it refuses characters
 * above U+00FF and writes those from U+0080 to U+00FF as one Latin-1 byte, which a reader
 * expecting UTF-8 turns into U+FFFD. */
import { Buffer } from "node:buffer";

const encoder = new TextEncoder();
/** The UTF-8 bytes go through one buffer kept for the process's life: a new byte array per
 * admission counts as V8 external memory, which makes V8 run full collections
 * (docs/benchmarks.md). Encoding into it is also a third of the cost of scanning the text
 * for non-ASCII characters first. Callers are synchronous, so nothing else uses it meanwhile. */
const bytes = new Uint8Array(64 * 1024);
const kept = Buffer.from(bytes.buffer);

export function base64Utf8(text: string): string {
  const { read, written } = encoder.encodeInto(text, bytes);
  // A larger text is rare (a huge patch), and pays for its own buffer.
  const encoded = read < text.length
    ? Buffer.from(text, "utf8").toString("base64")
    : kept.toString("base64", 0, written);
  // The text may be a credential: it does not stay in memory longer than its caller keeps it,
  // also the part of a larger one that encodeInto() wrote before the buffer was full.
  bytes.fill(0, 0, written); // Buffer's own fill() is five times slower
  return encoded;
}
