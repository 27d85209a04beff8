/** The product image for the end-to-end cluster: the closest local equivalent of the
 * Dockerfile's output, which cannot be built here (no Docker engine, and Deno 2.9.6's compile
 * runtime cannot be downloaded; see tests/e2e/NOTES.md).
 *
 * Like the real image it holds glibc, a non-root user and /usr/local/bin/secrets-store as the
 * entrypoint for every role. That entrypoint is a two-line dispatcher: `csi` runs the same
 * program under the pinned Deno 2.9.6 (`deno run`, modules cached in the image), because
 * grpc-js fails on the only compile runtime available here (Deno 2.5.7); every other role
 * (webhook, copy-self and so the injector) runs the real `deno compile` executable. */
import { ROOT, runOk } from "../harness/process.ts";
import type { Registry } from "../harness/registry.ts";
import { type BuiltLayer, busyboxLayer, pushImage, tarLayer } from "./images.ts";

export const DISPATCHER = "/usr/local/bin/secrets-store";
const COMPILED = "/opt/secrets-store/secrets-store";
const DENO = "/opt/deno/deno";
const DENO_DIR = "/opt/deno-dir";
const APP = "/app";

/** The image's environment, for its config. */
const PRODUCT_ENV = [
  "PATH=/usr/local/bin:/bin",
  `DENO_DIR=${DENO_DIR}`,
  "DENO_NO_UPDATE_CHECK=1",
  "DENO_NO_PROMPT=1",
];

/** Pushes the product image (the busybox layer, then the product's own) as
 * `<registry>/<repo>:<tag>`; `compiled` is the `deno compile` executable. */
export async function pushProductImage(
  registry: Registry,
  workDir: string,
  compiled: string,
  repo = "secrets-store",
  tag = "e2e",
): Promise<string> {
  const layers = [await busyboxLayer(workDir), await productLayer(workDir, compiled)];
  return await pushImage(registry, repo, tag, layers, {
    entrypoint: [DISPATCHER],
    cmd: [],
    env: PRODUCT_ENV,
    user: "65532:65532",
  });
}

/** The product's own layer: everything but busybox. */
async function productLayer(workDir: string, compiled: string): Promise<BuiltLayer> {
  const root = await Deno.makeTempDir({ dir: workDir, prefix: "product-rootfs-" });
  await Deno.chmod(root, 0o755); // the image's "/": a temporary folder is private
  const put = async (from: string, to: string, mode = 0o755) => {
    await Deno.mkdir(`${root}${to.slice(0, to.lastIndexOf("/"))}`, { recursive: true });
    await Deno.copyFile(from, `${root}${to}`);
    await Deno.chmod(`${root}${to}`, mode);
  };
  await put(compiled, COMPILED);
  await put(Deno.execPath(), DENO);
  for (const lib of await sharedLibraries(Deno.execPath())) {
    await put(lib, lib.startsWith("/lib64/") ? lib : `/lib/x86_64-linux-gnu/${basename(lib)}`);
  }
  await Deno.mkdir(`${root}/usr/local/bin`, { recursive: true });
  await Deno.writeTextFile(
    `${root}${DISPATCHER}`,
    [
      "#!/bin/sh",
      "# e2e stand-in for the image's single executable: see tests/e2e/product_image.ts.",
      `[ "$1" = csi ] && exec ${DENO} run --allow-all --cached-only --quiet ${APP}/main.ts "$@"`,
      `exec ${COMPILED} "$@"`,
      "",
    ].join("\n"),
  );
  await Deno.chmod(`${root}${DISPATCHER}`, 0o755);
  await Deno.mkdir(`${root}${APP}`, { recursive: true });
  for (const entry of ["main.ts", "deno.json", "deno.lock", "commands", "lib"]) {
    await runOk("cp", ["-a", `${ROOT}/${entry}`, `${root}${APP}/`]);
  }
  // The npm modules the program imports, cached where DENO_DIR points; read-only at run time.
  await runOk("env", [
    `DENO_DIR=${root}${DENO_DIR}`,
    Deno.execPath(),
    "cache",
    "--frozen",
    "--quiet",
    `${root}${APP}/main.ts`,
  ]);
  await Deno.mkdir(`${root}/etc`, { recursive: true });
  await Deno.writeTextFile(
    `${root}/etc/passwd`,
    "root:x:0:0:root:/root:/bin/sh\nnonroot:x:65532:65532:nonroot:/home/nonroot:/bin/false\n",
  );
  await Deno.writeTextFile(`${root}/etc/group`, "root:x:0:\nnonroot:x:65532:\n");
  try {
    return await tarLayer(root, false);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

/** The libraries (and loader) a dynamically linked executable needs, as ldd lists them. */
async function sharedLibraries(exe: string): Promise<string[]> {
  const out = await runOk("ldd", [exe]);
  return [...out.matchAll(/(\/\S+\.so[.\d]*)/g)].map((m) => m[1]!);
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}
