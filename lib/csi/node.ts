/** CSI Node service: each handler checks its arguments first and answers INVALID_ARGUMENT
 * early, then hands the work to the VolumeManager. */
import { CsiError, invalid } from "./errors.ts";
import { seeDocs } from "../troubleshooting.ts";
import { parseMountGroup } from "./mount_group.ts";
import { checkVolumeId } from "./volume_id.ts";
import type { VolumeManager } from "./volumes.ts";

interface VolumeCapability {
  block?: unknown;
  mount?: { fsType?: string; mountFlags?: string[]; volumeMountGroup?: string };
  accessMode?: { mode?: string };
  accessType?: string;
}

interface PublishRequest {
  volumeId?: string;
  targetPath?: string;
  volumeCapability?: VolumeCapability | null;
  readonly?: boolean;
  volumeContext?: Record<string, string>;
}

interface UnpublishRequest {
  volumeId?: string;
  targetPath?: string;
}

export interface NodeHandlers {
  NodePublishVolume(req: PublishRequest): Promise<unknown>;
  NodeUnpublishVolume(req: UnpublishRequest): Promise<unknown>;
  NodeGetCapabilities(req: unknown): Promise<unknown>;
  NodeGetInfo(req: unknown): Promise<unknown>;
}

export function nodeService(volumes: VolumeManager, nodeId: string): NodeHandlers {
  return {
    async NodePublishVolume(req) {
      checkVolumeId(req.volumeId ?? "");
      if (!req.targetPath) throw invalid("target_path is required");
      const cap = req.volumeCapability;
      if (!cap) throw invalid("volume_capability is required");
      if (cap.block || !cap.mount) throw invalid("only mount volumes are supported, not block");
      const mountGroup = parseMountGroup(cap.mount.volumeMountGroup);
      try {
        await volumes.publish({
          volumeId: req.volumeId!,
          targetPath: req.targetPath,
          volumeContext: req.volumeContext ?? {},
          mountGroup,
        });
      } catch (e) {
        // The kubelet shows this message in the Pod's events: say where it is explained.
        if (e instanceof CsiError) throw new CsiError(e.code, e.message + seeDocs("csi-mount"));
        throw e;
      }
      return {};
    },
    async NodeUnpublishVolume(req) {
      if (!req.volumeId) throw invalid("volume_id is required");
      if (!req.targetPath) throw invalid("target_path is required");
      await volumes.unpublish(req.volumeId, req.targetPath);
      return {};
    },
    NodeGetCapabilities: () =>
      // VOLUME_MOUNT_GROUP: the kubelet passes the Pod's fsGroup, and files are made readable to it.
      Promise.resolve({ capabilities: [{ rpc: { type: "VOLUME_MOUNT_GROUP" } }] }),
    NodeGetInfo: () => Promise.resolve({ nodeId, maxVolumesPerNode: 0 }),
  };
}
