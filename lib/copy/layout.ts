/** Where the injector lives inside a mutated Pod: copy-self writes this layout and the webhook
 * starts the injector from it, so the two always agree. */

/** Mount path of the shared emptyDir in every mutated container. */
export const INJECTOR_DIR = "/var/run/secrets-store";

/** The executable's file name inside INJECTOR_DIR. */
export const INJECTOR_FILE = "secrets-store";

/** The command prefix that starts the injector in front of `<original command>`. */
export function injectorCommand(dir = INJECTOR_DIR): string[] {
  return [`${dir}/${INJECTOR_FILE}`, "inject", "--"];
}

/** Where the executable sits in the product image; the init container runs copy-self from it. */
export const IMAGE_EXECUTABLE = "/usr/local/bin/secrets-store";
