/** A CA bundle for the store, checked where it enters. Deno's HTTP client silently skips text
 * that is not PEM (the store's certificate then fails later as an "unknown issuer", naming
 * nothing) and throws an unnamed error for a block it cannot decode. */

const BEGIN = "-----BEGIN CERTIFICATE-----";

/** Returns `text` when it holds at least one certificate block and every block decodes;
 * throws a TypeError saying why, so a caller adds the variable or file it came from. */
export function parseCaPem(text: string): string {
  if (!text.includes(BEGIN)) {
    throw new TypeError(`it is not a PEM certificate (no ${BEGIN} line)`);
  }
  try {
    // The same parser that will use it, so what passes here is what the client trusts.
    Deno.createHttpClient({ caCerts: [text] }).close();
  } catch (e) {
    throw new TypeError(`it holds a certificate that cannot be read: ${(e as Error).message}`);
  }
  return text;
}
