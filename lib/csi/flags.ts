/** Every flag of `csi serve`, checked and parsed before anything is read, mounted or served:
 * a bad value is reported at once, naming its flag, rather than after the driver serves
 * (the first rotation) or as a folder named after it (`--endpoint=tcp://…`). */
import { MAX_TIMER_MS } from "../sys/timer.ts";
import { parseListen } from "../cli/listen.ts";
import { checkAbsolutePath, parseUnixEndpoint } from "../cli/paths.ts";
import { parseDuration } from "../config/duration.ts";
import { checkObjectName, KubeNameError } from "../kube/api_path.ts";

/** The flags as run.ts reads them (commander's names). */
export interface CsiFlagValues {
  endpoint: string;
  nodeId: string;
  stateDir: string;
  kubeletDir: string;
  rotationInterval: string;
  rotation: boolean;
  volumeSize: string;
  storeTimeout: string;
  registrationDir?: string | undefined;
  kubeletEndpoint?: string | undefined;
  healthListen?: string | undefined;
  metricsListen?: string | undefined;
}

export interface CheckedCsiFlags {
  /** The CSI socket's path. */
  socket: string;
  /** The socket as the kubelet dials it (--kubelet-endpoint, else the same path). */
  kubeletSocket: string;
  rotationEveryMs: number;
  storeTimeoutMs: number;
  volumeBytes: number;
}

/** A tmpfs per volume; more than this is a typo (a "4Gi" meant as "4Mi"). */
const MAX_VOLUME_BYTES = 1024 ** 3;

export function checkCsiFlags(f: CsiFlagValues): CheckedCsiFlags {
  if (!f.nodeId) throw new TypeError("--node-id is required (the chart passes spec.nodeName)");
  try {
    checkObjectName("--node-id", f.nodeId);
  } catch (e) {
    if (e instanceof KubeNameError) throw new TypeError(`Invalid ${e.message}`);
    throw e;
  }
  const socket = parseUnixEndpoint("--endpoint", f.endpoint);
  const kubeletSocket = f.kubeletEndpoint
    ? parseUnixEndpoint("--kubelet-endpoint", f.kubeletEndpoint)
    : socket;
  // A trailing "/" on a folder is how many write it (a chart value): allowed there.
  const folder = (flag: string, v: string) =>
    checkAbsolutePath(flag, v.replace(/(.)\/+$/, "$1"), v);
  folder("--state-dir", f.stateDir);
  folder("--kubelet-dir", f.kubeletDir);
  if (f.registrationDir !== undefined) folder("--registration-dir", f.registrationDir);
  if (f.healthListen !== undefined) parseListen("--health-listen", f.healthListen, "0.0.0.0:9808");
  if (f.metricsListen !== undefined) {
    parseListen("--metrics-listen", f.metricsListen, "0.0.0.0:9809");
  }
  const rotationEveryMs = duration("--rotation-interval", f.rotationInterval);
  const storeTimeoutMs = duration("--store-timeout", f.storeTimeout);
  let volumeBytes;
  try {
    volumeBytes = parseSize(f.volumeSize);
  } catch (e) {
    throw new TypeError(`Invalid --volume-size: ${(e as Error).message}`);
  }
  if (volumeBytes < 4096 || volumeBytes > MAX_VOLUME_BYTES) {
    throw new TypeError(
      `Invalid --volume-size "${f.volumeSize}": expected from 4Ki (one page) to 1Gi`,
    );
  }
  return { socket, kubeletSocket, rotationEveryMs, storeTimeoutMs, volumeBytes };
}

function duration(flag: string, text: string): number {
  let ms;
  try {
    ms = parseDuration(text);
  } catch (e) {
    throw new TypeError(`Invalid ${flag}: ${(e as Error).message}`);
  }
  if (ms > MAX_TIMER_MS) {
    throw new TypeError(`Invalid ${flag} "${text}": at most 596h (24 days)`);
  }
  return ms;
}

/** "4Mi", "512Ki", "1048576". */
export function parseSize(text: string): number {
  const m = text.trim().match(/^(\d+)(Ki|Mi|Gi)?$/);
  if (!m) {
    throw new TypeError(`Invalid size "${text}": expected e.g. 4Mi, 512Ki or a number of bytes`);
  }
  return Number(m[1]) * ({ Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 }[m[2] ?? ""] ?? 1);
}
