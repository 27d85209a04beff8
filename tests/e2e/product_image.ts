/** The product image for the end-to-end cluster: the closest local equivalent of the
 * Dockerfile's output, which cannot be built here (no Docker engine). Like the real image it
 * holds glibc (the libraries the executable links, as the distroless base does), a non-root
 * user and the one `deno compile` executable, /usr/local/bin/secrets-store, as the entrypoint
 * of every role: webhook, copy-self (and so the injector) and the CSI driver. */
import { runOk } from "../harness/process.ts";
import { IMAGE_INJECTOR_TREE, INJECTOR_DIR } from "../../lib/copy/layout.ts";
import type { Registry } from "../harness/registry.ts";
import { type BuiltLayer, busyboxLayer, pushImage, tarLayer } from "./images.ts";

export const EXECUTABLE = "/usr/local/bin/secrets-store";

/** The image's environment, for its config. */
const PRODUCT_ENV = ["PATH=/usr/local/bin:/bin"];

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
    entrypoint: [EXECUTABLE],
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
  await put(compiled, EXECUTABLE);
  for (const lib of await sharedLibraries(compiled)) {
    await put(lib, lib.startsWith("/lib64/") ? lib : `/lib/x86_64-linux-gnu/${basename(lib)}`);
  }
  // The injector already laid out for image-volume delivery, as the Dockerfile prepares it.
  await runOk(compiled, [
    "copy-self",
    `${root}/${IMAGE_INJECTOR_TREE}`,
    `--mounted-at=${INJECTOR_DIR}`,
  ]);
  await runOk("chmod", ["-R", "a+rX", `${root}/${IMAGE_INJECTOR_TREE.split("/")[0]}`]);
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
