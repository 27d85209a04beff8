/** Where the injector lives inside a mutated Pod: copy-self writes this layout and the webhook
 * starts the injector from it, so the two always agree.
 *
 *   /run/secrets-store/secrets-store   the executable, its ELF interpreter set to ./ld.so
 *   /run/secrets-store/ld.so           the glibc dynamic loader it was built against
 *   /run/secrets-store/lib/            the libraries it needs (libc, libm, libgcc_s, ...)
 *
 * The executable is started directly, not through the loader: a `deno compile` executable
 * finds its program through /proc/self/exe, which would then name the loader. So copy-self
 * rewrites the interpreter path inside the copy, in place, and that path must fit where the
 * original "/lib64/ld-linux-x86-64.so.2" stood: hence the short folder name. */

/** Mount path of the shared emptyDir in every mutated container. */
export const INJECTOR_DIR = "/run/secrets-store";

/** The executable's file name inside INJECTOR_DIR. */
export const INJECTOR_FILE = "secrets-store";

/** The loader's and the libraries' places inside INJECTOR_DIR. */
export const LOADER_FILE = "ld.so";
export const LIB_DIR = "lib";

/** The command prefix that starts the injector in front of `<original command>`. */
export function injectorCommand(dir = INJECTOR_DIR): string[] {
  return [`${dir}/${INJECTOR_FILE}`, "inject", "--"];
}

/** The same for a wrapped exec probe: `--probe` lets it take the app's values (probe_env.ts). */
export function injectorProbeCommand(dir = INJECTOR_DIR): string[] {
  return [`${dir}/${INJECTOR_FILE}`, "inject", "--probe", "--"];
}

/** Where the executable sits in the product image; the init container runs copy-self from it. */
export const IMAGE_EXECUTABLE = "/usr/local/bin/secrets-store";

/** Where the product image holds the injector already laid out as above, its interpreter set
 * for INJECTOR_DIR (`copy-self --mounted-at /run/secrets-store`, run when the image is built):
 * with image volumes the webhook mounts this folder of the image at INJECTOR_DIR (a subPath,
 * read-only) and nothing is copied. Relative: a subPath is. */
export const IMAGE_INJECTOR_TREE = "opt/secrets-store/injector";
