/** The kubelet's `volume_mount_group` (the Pod's fsGroup): the gid the volume's files are
 * given. Anything but a plain decimal gid is refused: Number("-1") or Number("1e3") would be
 * accepted by a loose parse, and chown(2) truncates 99999999999 to another group. */
import { invalid } from "./errors.ts";

/** 2^32 - 1 is (gid_t)-1, which chown(2) reads as "leave the group as it is". */
const MAX_GID = 4294967294;

/** The gid, or undefined when no group is passed: proto3 sends an unset string as "", so an
 * empty value is the kubelet passing no fsGroup, not a bad one. */
export function parseMountGroup(value: string | undefined): number | undefined {
  if (value === undefined || value === "") return undefined;
  const gid = /^[0-9]{1,10}$/.test(value) ? Number(value) : NaN;
  if (!(gid <= MAX_GID)) {
    throw invalid(
      `volume_capability.mount.volume_mount_group ${
        JSON.stringify(value.length > 40 ? value.slice(0, 40) + "…" : value)
      } is not a group id (a decimal number from 0 to ${MAX_GID})`,
    );
  }
  return gid;
}
