/** Strict base64 decoding, for decodeBase64 files and the templates' b64dec. Apart from
 * base64.ts, whose encoder loads node:buffer, so the injector does not load it for this. */
/** Standard base64 (RFC 4648) with padding; line breaks and surrounding blanks allowed, as
 * `base64` without -w0 writes them. Anything else is refused, never half-decoded. */
export function decodeBase64Strict(text: string): Uint8Array | undefined {
  const s = text.replace(/[\r\n]/g, "").trim();
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return undefined;
  try {
    return Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}
