/** The CSI service definitions, loaded from csi.proto (kept beside this file and included in
 * the compiled executable). */
import * as grpc from "@grpc/grpc-js";
import * as loader from "@grpc/proto-loader";

export const DRIVER_NAME = "secrets-store.csi.deckhouse.io";

interface CsiPackage {
  Identity: grpc.ServiceClientConstructor;
  Node: grpc.ServiceClientConstructor;
}

let loaded: CsiPackage | undefined;

/** The csi.v1 package; field names in camelCase, enums as their names. */
export function csiPackage(): CsiPackage {
  if (loaded) return loaded;
  const file = new URL("./csi.proto", import.meta.url).pathname;
  const def = loader.loadSync(file, {
    keepCase: false,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const root = grpc.loadPackageDefinition(def) as unknown as { csi: { v1: CsiPackage } };
  loaded = root.csi.v1;
  return loaded;
}
