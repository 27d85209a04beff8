/** Registration with the kubelet, built in: `csi serve` answers the kubelet's plugin
 * registration API on `<plugins_registry>/<driver>-reg.sock`, the job the
 * node-driver-registrar sidecar does elsewhere. One container fewer per node, and no second
 * image to mirror into private registries. */
import type { Logger } from "../log/logger.ts";
import { type Endpoint, type Handlers, serveGrpc } from "./endpoint.ts";
import { DRIVER_NAME, registrationService } from "./proto.ts";

/** The socket the kubelet finds in its plugins_registry folder. */
export function registrationSocket(registryDir: string): string {
  return `${registryDir.replace(/\/$/, "")}/${DRIVER_NAME}-reg.sock`;
}

/** Handlers of pluginregistration.Registration; `csiSocket` is the CSI socket's path as the
 * kubelet sees it on the node. */
export function registrationHandlers(csiSocket: string, logger: Logger): Handlers {
  return {
    GetInfo: () =>
      Promise.resolve({
        type: "CSIPlugin",
        name: DRIVER_NAME,
        endpoint: csiSocket,
        supportedVersions: ["1.0.0"],
      }),
    NotifyRegistrationStatus: (status: { pluginRegistered: boolean; error: string }) => {
      if (status.pluginRegistered) logger.info("registered with the kubelet", { csiSocket });
      else logger.error("the kubelet refused the registration", { error: status.error });
      return Promise.resolve({});
    },
  };
}

/** Serves the registration socket in `registryDir`. */
export function serveRegistration(
  registryDir: string,
  csiSocket: string,
  logger: Logger,
): Promise<Endpoint> {
  return serveGrpc(registrationSocket(registryDir), [[
    registrationService().service,
    registrationHandlers(csiSocket, logger),
  ]], logger);
}
