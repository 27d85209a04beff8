/** The gRPC service definitions, loaded from csi.proto and registration.proto (kept beside
 * this file and included in the compiled executable). */
import * as grpc from "@grpc/grpc-js";
import * as loader from "@grpc/proto-loader";

export const DRIVER_NAME = "secrets-store.csi.deckhouse.io";

interface CsiPackage {
  Identity: grpc.ServiceClientConstructor;
  Node: grpc.ServiceClientConstructor;
}

let csi: CsiPackage | undefined;
let registration: grpc.ServiceClientConstructor | undefined;

/** The csi.v1 package; field names in camelCase, enums as their names. */
export function csiPackage(): CsiPackage {
  return csi ??= (load("csi.proto") as { csi: { v1: CsiPackage } }).csi.v1;
}

/** The kubelet's pluginregistration.Registration service. */
export function registrationService(): grpc.ServiceClientConstructor {
  return registration ??= (load("registration.proto") as {
    pluginregistration: { Registration: grpc.ServiceClientConstructor };
  }).pluginregistration.Registration;
}

function load(name: string): unknown {
  const def = loader.loadSync(new URL(`./${name}`, import.meta.url).pathname, {
    keepCase: false,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(def);
}
