/** How a value refers to the store, on its own: the injector's start-up path asks whether a
 * value is a reference before the template parser and its modules have loaded. */

export const TEMPLATE_PREFIX = "secrets-store:";
/** How a write reference starts (write_ref.ts). */
export const WRITE_PREFIX = ">>" + TEMPLATE_PREFIX;
/** How an inline reference starts inside a value. */
export const INLINE_PREFIX = "${" + TEMPLATE_PREFIX;

/** True when `value` refers to the store (even malformed: it must be reported, not passed
 * on). Cheap, for the webhook and for deciding whether to log in at all. */
export function isEnvTemplate(value: string): boolean {
  return value.startsWith(TEMPLATE_PREFIX) || value.includes(INLINE_PREFIX) ||
    value.startsWith(WRITE_PREFIX);
}
