/** Base64 of text's UTF-8 bytes. btoa alone takes "binary strings": it refuses characters
 * above U+00FF and writes those from U+0080 to U+00FF as one Latin-1 byte, which a reader
 * expecting UTF-8 turns into U+FFFD. */
import { Buffer } from "node:buffer";

export function base64Utf8(text: string): string {
  // ASCII is its own UTF-8, and btoa makes no ArrayBuffer (Buffer.from takes a slice of a
  // shared 8 KiB one, a new one every few admissions): each counts as external memory,
  // which makes V8 run full collections (docs/benchmarks.md).
  return NOT_ASCII.test(text) ? Buffer.from(text, "utf8").toString("base64") : btoa(text);
}

const NOT_ASCII = /[\u0080-\uffff]/;
