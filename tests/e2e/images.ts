/** Test images for the end-to-end cluster, built here from Debian's busybox-static (no image
 * can be pulled from outside): one layer holding /bin/busybox, a symlink per applet in /bin and
 * a minimal /etc, pushed to the test registry through its HTTP API. */
import { gzip, type Registry, sha256 } from "../harness/registry.ts";
import { runOk } from "../harness/process.ts";

const BUSYBOX = "/bin/busybox";

export interface BuiltLayer {
  /** The uncompressed tar (its digest is the config's diff_id). */
  tar: Uint8Array;
  /** The gzip-compressed tar, or none: then the tar itself is the blob. */
  gz?: Uint8Array;
}

/** A folder as one reproducible layer (sorted names, mtime 0, uid/gid 0). Big layers go
 * uncompressed: gzip costs seconds and saves nothing on loopback. */
export async function tarLayer(root: string, compress = true): Promise<BuiltLayer> {
  const tarFile = `${root}.tar`;
  await runOk("tar", [
    "--sort=name",
    "--mtime=@0",
    "--owner=0",
    "--group=0",
    "--numeric-owner",
    "--format=gnu",
    "-C",
    root,
    "-cf",
    tarFile,
    ".",
  ]);
  const tar = await Deno.readFile(tarFile);
  await Deno.remove(tarFile);
  return compress ? { tar, gz: await gzip(tar) } : { tar };
}

let cachedLayer: Promise<BuiltLayer> | undefined;

/** The busybox root filesystem as one reproducible layer (sorted names, mtime 0, uid/gid 0). */
export function busyboxLayer(workDir: string): Promise<BuiltLayer> {
  cachedLayer ??= buildLayer(workDir);
  return cachedLayer;
}

async function buildLayer(workDir: string): Promise<BuiltLayer> {
  const ldd = await new Deno.Command("ldd", { args: [BUSYBOX], stdout: "piped", stderr: "piped" })
    .output();
  const lddOut = new TextDecoder().decode(ldd.stdout) + new TextDecoder().decode(ldd.stderr);
  if (!/not a dynamic executable|statically linked/.test(lddOut)) {
    throw new Error(
      `${BUSYBOX} is not static (${lddOut.trim()}): install busybox-static (scripts/peers/build-node.sh does)`,
    );
  }
  const root = await Deno.makeTempDir({ dir: workDir, prefix: "busybox-rootfs-" });
  try {
    for (const d of ["bin", "etc", "tmp", "proc", "sys", "dev", "root", "var", "run"]) {
      await Deno.mkdir(`${root}/${d}`, { recursive: true });
    }
    await Deno.chmod(`${root}/tmp`, 0o1777);
    await Deno.copyFile(BUSYBOX, `${root}/bin/busybox`);
    await Deno.chmod(`${root}/bin/busybox`, 0o755);
    const applets = (await runOk(BUSYBOX, ["--list"])).split("\n").map((s) => s.trim())
      .filter((s) => s && s !== "busybox");
    for (const a of applets) await Deno.symlink("busybox", `${root}/bin/${a}`);
    await Deno.writeTextFile(
      `${root}/etc/passwd`,
      "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    );
    await Deno.writeTextFile(`${root}/etc/group`, "root:x:0:\nnogroup:x:65534:\n");
    return await tarLayer(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

export interface ImageSpec {
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
  /** "uid:gid" the image runs as. */
  user?: string;
}

/** Pushes the busybox layer with `spec` as `<registry>/<repo>:<tag>`; returns the image reference. */
export async function pushBusyboxImage(
  registry: Registry,
  workDir: string,
  repo: string,
  tag: string,
  spec: ImageSpec = {},
): Promise<string> {
  return await pushImage(registry, repo, tag, [await busyboxLayer(workDir)], spec);
}

/** Pushes an image of `layers` (bottom first) with `spec`; returns its reference. */
export async function pushImage(
  registry: Registry,
  repo: string,
  tag: string,
  layers: BuiltLayer[],
  spec: ImageSpec = {},
): Promise<string> {
  const config = {
    architecture: "amd64",
    os: "linux",
    config: {
      Env: spec.env ?? ["PATH=/bin"],
      Entrypoint: spec.entrypoint ?? null,
      Cmd: spec.cmd ?? ["sh"],
      WorkingDir: "/",
      ...(spec.user ? { User: spec.user } : {}),
    },
    rootfs: { type: "layers", diff_ids: await Promise.all(layers.map((l) => sha256(l.tar))) },
    history: layers.map(() => ({ created_by: "tests/e2e/images.ts" })),
  };
  const configBytes = new TextEncoder().encode(JSON.stringify(config));
  const blobs = [];
  for (const l of layers) {
    const blob = l.gz ?? l.tar;
    blobs.push({
      mediaType: l.gz
        ? "application/vnd.oci.image.layer.v1.tar+gzip"
        : "application/vnd.oci.image.layer.v1.tar",
      digest: await registry.push.blob(repo, blob),
      size: blob.length,
    });
  }
  const manifest = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {
      mediaType: "application/vnd.oci.image.config.v1+json",
      digest: await registry.push.blob(repo, configBytes),
      size: configBytes.length,
    },
    layers: blobs,
  };
  await registry.push.manifest(repo, tag, manifest.mediaType, manifest);
  return `${registry.host}/${repo}:${tag}`;
}

/** The stand-in for the guide's `alpine:3.20`: the busybox layer, plus `printenv`, which
 * Alpine's busybox has and Debian's busybox-static lacks (the guide's Pods run it). */
export async function pushAlpineStandIn(
  registry: Registry,
  workDir: string,
  repo = "library/alpine",
  tag = "3.20",
): Promise<string> {
  const root = await Deno.makeTempDir({ dir: workDir, prefix: "printenv-" });
  try {
    await Deno.chmod(root, 0o755);
    await Deno.mkdir(`${root}/bin`);
    await Deno.writeTextFile(
      `${root}/bin/printenv`,
      [
        "#!/bin/sh",
        "# printenv [NAME...], as Alpine's busybox applet behaves",
        "[ $# -eq 0 ] && exec env",
        'for n; do env | sed -n "s/^$n=//p"; done',
        "",
      ].join("\n"),
    );
    await Deno.chmod(`${root}/bin/printenv`, 0o755);
    const layers = [await busyboxLayer(workDir), await tarLayer(root)];
    return await pushImage(registry, repo, tag, layers, { cmd: ["sh"] });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

/** What the pod sandbox runs (the role of registry.k8s.io/pause): sleeps until SIGTERM/SIGINT.
 * sh as PID 1 has handlers for the trapped signals, so it stops at once. */
export const PAUSE_SPEC: ImageSpec = {
  entrypoint: ["/bin/sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"],
  cmd: [],
};
