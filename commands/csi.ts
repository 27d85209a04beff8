import { Command } from "commander";
import type { CsiFlags } from "../lib/csi/run.ts";
import { kubeOptions, logOptions } from "./_options.ts";

/** `secrets-store csi serve`: the CSI node plugin; `csi render`: an SSI's files, locally. */
export function csiCommand(): Command {
  const csi = new Command("csi").description("CSI node plugin secrets-store.csi.deckhouse.io");
  const serve = csi.command("serve")
    .description(
      "serve the CSI Identity and Node services on a unix socket, rotating files every --rotation-interval\n" +
        "(every flag is checked before anything is served; rotations and failed rotations are\n" +
        "written as Events on the Pod)",
    )
    .option(
      "--endpoint <unix://path>",
      "CSI socket: unix:///absolute/path or an absolute path (no tcp://)",
      "unix:///csi/csi.sock",
    )
    .option("--node-id <name>", "this node's name (spec.nodeName)", Deno.env.get("NODE_NAME") ?? "")
    .option(
      "--state-dir <dir>",
      "node-local folder for volume metadata and mounts",
      "/var/lib/secrets-store-csi",
    )
    .option(
      "--kubelet-dir <dir>",
      "the kubelet's root folder; every target path must lie in a Pod's folder under it",
      "/var/lib/kubelet",
    )
    .option("--config <file>", "installation connection settings (YAML)")
    .option(
      "--rotation-interval <duration>",
      "how often published files are re-read from the store (a duration like 2m, at most 596h)",
      "2m",
    )
    .option("--no-rotation", "do not rotate files after they are mounted")
    .option("--volume-size <size>", "size limit of each volume's tmpfs (4Ki to 1Gi)", "4Mi")
    .option("--store-timeout <duration>", "timeout of one store request", "10s")
    .option(
      "--registration-dir <dir>",
      "register with the kubelet through its plugins_registry folder (e.g. /var/lib/kubelet/plugins_registry); without it, a node-driver-registrar sidecar must register the driver",
    )
    .option(
      "--kubelet-endpoint <path>",
      "the CSI socket's path on the node, when it differs from --endpoint inside the container",
    )
    .option("--health-listen <host:port>", "serve GET /healthz over HTTP for liveness probes")
    .option(
      "--metrics-listen <host:port>",
      "serve GET /metrics (Prometheus text format) over HTTP; may equal --health-listen",
    );
  logOptions(kubeOptions(serve)).action(async (o: CsiFlags) => {
    // Loaded on use, so the injector never loads gRPC.
    const { runCsi } = await import("../lib/csi/run.ts");
    await runCsi(o);
  });
  csi.command("render")
    .description(
      "render a SecretsStoreImport's files from a local store file (the inject --store-file format), values masked",
    )
    .argument("<ssi-file>", "the SecretsStoreImport, YAML or JSON")
    .requiredOption("--store-file <file>", "secrets laid out like the store (YAML/JSON)")
    .option("--show-values", "print the files' real contents")
    .option("--fs-group <gid>", "show the modes a Pod with this fsGroup gets")
    .action(
      async (file: string, o: { storeFile: string; showValues?: boolean; fsGroup?: string }) => {
        const [{ renderLocal }, { storeFileSource }] = await Promise.all([
          import("../lib/csi/render_local.ts"),
          import("../lib/inject/store_file.ts"),
        ]);
        const source = await storeFileSource(o.storeFile);
        await renderLocal({
          file,
          read: (path, version) => source.read(path, version, AbortSignal.timeout(10_000)),
          showValues: o.showValues ?? false,
          fsGroup: o.fsGroup,
          print: (line) => console.log(line),
        });
      },
    );
  return csi;
}
