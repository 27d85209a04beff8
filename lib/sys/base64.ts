/** Base64 of text's UTF-8 bytes. btoa alone takes "binary strings": it refuses characters
 * above U+00FF and writes those from U+0080 to U+00FF as one Latin-1 byte, which a reader
 * expecting UTF-8 turns into U+FFFD. */
import { Buffer } from "node:buffer";

export function base64Utf8(text: string): string {
  return Buffer.from(text, "utf8").toString("base64");
}
