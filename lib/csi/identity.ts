/** CSI Identity service. No CONTROLLER_SERVICE capability: this is a node-only driver for
 * ephemeral inline volumes, and csi-sanity skips the controller checks accordingly. */
import { VERSION } from "../version.ts";
import { DRIVER_NAME } from "./proto.ts";

export interface IdentityHandlers {
  GetPluginInfo(req: unknown): Promise<unknown>;
  GetPluginCapabilities(req: unknown): Promise<unknown>;
  Probe(req: unknown): Promise<unknown>;
}

/** Handlers of the Identity service; `ready` reports start-up (volumes restored). */
export function identityService(ready: () => boolean): IdentityHandlers {
  return {
    GetPluginInfo: () =>
      Promise.resolve({ name: DRIVER_NAME, vendorVersion: VERSION, manifest: {} }),
    GetPluginCapabilities: () => Promise.resolve({ capabilities: [] }),
    Probe: () => Promise.resolve({ ready: { value: ready() } }),
  };
}
