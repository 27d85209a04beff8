/** Published volumes: publish (read, write, mount), unpublish, and the rotation sweep that
 * reads each distinct (identity, path, version) once and rewrites only changed files. */
import { z } from "zod";
import type { StoreDefaults } from "../config/connection.ts";
import { describeIssues } from "../config/issues.ts";
import { KubeNameError, namespacedObjectPath } from "../kube/api_path.ts";
import { type KubeClient, KubeError } from "../kube/client.ts";
import type { EventSink } from "../kube/events.ts";
import type { Logger } from "../log/logger.ts";
import type { Secret } from "../vault/client.ts";
import { mapBounded } from "../sys/bounded.ts";
import { StoreError } from "../vault/errors.ts";
import { parseStoreAddress } from "../config/store_address.ts";
import { readKey, type StorePath } from "../config/store_path.ts";
import { CsiError, invalid, status } from "./errors.ts";
import { type Ownership, writeFiles } from "./files.ts";
import {
  bindReadOnly,
  isDriverMount,
  isMountPoint,
  mountsBelow,
  mountTmpfs,
  unmount,
} from "./mount.ts";
import { FilePlanError, planFiles } from "./plan.ts";
import { GRACE_MS, RotationWriter } from "./rotation_writer.ts";
import { checkFits, isNoSpace, SIZE_SETTING } from "./space.ts";
import { sourcesOf, SSI_RESOURCE, SsiSchema } from "./ssi.ts";
import { loadStates, removeState, saveState, type VolumeState } from "./state.ts";
import { type Identity, identityKey, type StorePool } from "./store_pool.ts";
import { checkTarget, type KubeletDir, recheckTarget } from "./target_path.ts";
import {
  bindTokens,
  type PodIdentity,
  readVolumeContext,
  SSI_ATTRIBUTE,
  tokenFor,
} from "./volume_context.ts";
import { volumeFolder } from "./volume_id.ts";
import type { VolumeMetrics } from "./metrics.ts";
import { endOf, type Kept, LeaseBook, planLease, renewed } from "./leases.ts";

export interface VolumeManagerOptions {
  /** Node-local folder for volume metadata and the writable tmpfs behind each mount. */
  stateDir: string;
  /** Every target path lies in a Pod's folder under it (resolved once, at start). */
  kubeletDir: KubeletDir;
  /** Only its GET is used, so tests can pass an in-memory API server. */
  kube: Pick<KubeClient, "get">;
  /** Read at each publish and sweep: Stronghold's CA may come after start. */
  defaults: () => StoreDefaults;
  pool: StorePool;
  /** Size limit of each volume's tmpfs. */
  volumeBytes: number;
  /** Store reads in flight at once, over all volumes. */
  readConcurrency?: number;
  logger: Logger;
  /** Told of each publish and unpublish, with its outcome and duration. */
  metrics?: VolumeMetrics;
  /** Where rotations and failed rotations go as Events on the Pod; none when unset. */
  events?: EventSink;
  /** How often sweep() runs (--rotation-interval): when a dynamic secret's lease is renewed,
   * and when it is read anew instead. */
  rotationEveryMs?: number;
}

export interface PublishRequest {
  volumeId: string;
  targetPath: string;
  volumeContext: Record<string, string>;
  /** fsGroup, when the kubelet passes one (VOLUME_MOUNT_GROUP), checked by mount_group.ts. */
  mountGroup?: number | undefined;
}

export interface SweepStats {
  volumes: number;
  identities: number;
  reads: number;
  logins: number;
  changedFiles: number;
  failedVolumes: number;
  ms: number;
}

export class VolumeManager {
  readonly #volumes = new Map<string, VolumeState>();
  readonly #busy = new Map<string, Promise<unknown>>();
  readonly #writers = new Map<string, RotationWriter>();
  /** Identities of publishes under way, by volume id: their logins are not forgotten yet. */
  readonly #pending = new Map<string, string>();
  /** Dynamic secrets' leases, renewed at the sweeps instead of read again (leases.ts). */
  readonly #leases = new LeaseBook();
  /** Leases replaced by a read at a publish: revoked after the next sweep's files are in
   * place, since volumes published before still hold their credentials until then. */
  readonly #retired: Kept[] = [];
  /** Reads of one key under way (a publish and a sweep at once share one, so a dynamic
   * secret is not issued twice). */
  readonly #reading = new Map<string, Promise<Secret>>();

  constructor(readonly o: VolumeManagerOptions) {}

  get size(): number {
    return this.#volumes.size;
  }

  /** Distinct identities the published volumes log in as. */
  get identities(): number {
    return new Set([...this.#volumes.values()].map((v) => identityKey(this.#identity(v)))).size;
  }

  /** NodePublishVolume: a new volume is read, written and mounted; a known one (the kubelet
   * republishing with fresh tokens) only updates its token. */
  publish(req: PublishRequest): Promise<void> {
    return this.#measured(
      "publish",
      () => this.#serialised(req.volumeId, () => this.#publish(req)),
    );
  }

  /** Runs `fn`, telling the metrics how it ended and how long it took. */
  async #measured(rpc: "publish" | "unpublish", fn: () => Promise<void>): Promise<void> {
    const started = performance.now();
    try {
      await fn();
    } catch (e) {
      this.o.metrics?.call(rpc, e, (performance.now() - started) / 1000);
      throw e;
    }
    this.o.metrics?.call(rpc, undefined, (performance.now() - started) / 1000);
  }

  /** NodeUnpublishVolume: unmounts and removes what was created for this volume id at this
   * target. An unknown id, or a known id with another target, touches nothing: the target
   * could be another volume's (CSI wants OK for unknown volumes, so it is logged instead). */
  unpublish(volumeId: string, targetPath: string): Promise<void> {
    return this.#measured("unpublish", () => this.#unpublish(volumeId, targetPath));
  }

  #unpublish(volumeId: string, targetPath: string): Promise<void> {
    return this.#serialised(volumeId, async () => {
      const v = this.#volumes.get(volumeId);
      if (!v || v.targetPath !== targetPath) {
        this.o.logger.info("unpublish of no volume published here: nothing done", {
          volume: volumeId,
          target: targetPath,
          published: v?.targetPath,
        });
        return;
      }
      unmount(targetPath);
      await Deno.remove(targetPath).catch(() => {});
      this.#writers.get(volumeId)?.close();
      this.#writers.delete(volumeId);
      unmount(v.sourceDir);
      await Deno.remove(v.sourceDir, { recursive: true }).catch(() => {});
      await removeState(this.#stateDir, volumeId);
      this.#volumes.delete(volumeId);
      // Before the identity's token may go (#forget): the revokes are sent with it.
      this.#releaseLeases();
      this.#forget(volumeId);
      this.o.logger.info("volume unpublished", { volume: volumeId });
    });
  }

  /** Revokes (in the background) the leases no published volume uses any more; those of an
   * identity with a publish under way are kept, since it may have been handed one. */
  #releaseLeases(): void {
    const used = new Set<string>();
    for (const v of this.#volumes.values()) {
      const identity = this.#identity(v);
      for (const s of v.spec.files.flatMap(sourcesOf)) used.add(wantedKey(identity, s));
    }
    const pending = new Set(this.#pending.values());
    const gone = this.#leases.retain((key, k) =>
      used.has(key) || pending.has(identityKey(k.identity))
    );
    for (const k of gone) this.#revokeLease(k, "no volume uses it any more");
  }

  #revokeLease(k: Kept, why: string, deadline?: AbortSignal): void {
    this.o.logger.info("revoking a dynamic secret's lease", {
      path: k.secret.path,
      lease: k.secret.lease.id,
      why,
    });
    this.o.pool.revokeLease(k.identity, k.secret.lease.id, deadline);
  }

  /** At driver shutdown: the identities whose tokens the mounted files' dynamic credentials
   * depend on. Their leases are kept and so are those tokens (the store would revoke the
   * leases with them): the mounts stay in place across a restart (an upgrade rolls every
   * node), and their credentials keep working until their TTL, while the driver that comes
   * back, knowing none of them, reads the paths anew at its first sweep. */
  leaseHolders(): Set<string> {
    const holders = new Set<string>();
    for (const k of this.#leases.all()) holders.add(identityKey(k.identity));
    return holders;
  }

  /** Drops a volume's tokens, and the logins no volume uses any more. */
  #forget(volumeId: string): void {
    this.o.pool.forget(volumeId);
    this.o.pool.retain(
      new Set([
        ...[...this.#volumes.values()].map((s) => identityKey(this.#identity(s))),
        ...this.#pending.values(),
      ]),
    );
  }

  /** After a restart: reconciles the state folder with the mount table. A complete volume
   * whose mounts are in place is taken back (its files rotate again once the kubelet
   * republishes it with a fresh token); a half-done publish (state still pending) or a
   * volume whose mounts are gone is unmounted and removed; so is any tmpfs in the mounts
   * folder that no state names. */
  async restore(): Promise<number> {
    const states = await loadStates(
      this.#stateDir,
      (file, why) => this.o.logger.warn("state file skipped", { file, why }),
    );
    for (const s of states) {
      const foreign = this.#foreignPaths(s);
      if (foreign) {
        // The file is the driver's own, but what it names is not to be trusted: removing or
        // unmounting a folder it points at could reach anywhere on the node.
        this.o.logger.warn("state file names paths that are not the driver's; ignored", {
          volume: s.volumeId,
          why: foreign,
        });
        await removeState(this.#stateDir, s.volumeId);
        continue;
      }
      if (!s.pending && isMountPoint(s.targetPath) && isMountPoint(s.sourceDir)) {
        this.#volumes.set(s.volumeId, { ...s });
        continue;
      }
      this.o.logger.warn(
        s.pending ? "half-done publish removed" : "volume without its mounts removed",
        { volume: s.volumeId, target: s.targetPath },
      );
      // The target only when the mount there is the driver's: it was checked at publish, but
      // a crash may have come before the bind, and something else may be there now.
      if (isDriverMount(s.targetPath)) unmount(s.targetPath);
      await Deno.remove(s.targetPath).catch(() => {}); // the kubelet recreates it; only if empty
      for (const m of mountsBelow(s.sourceDir)) unmount(m);
      await Deno.remove(s.sourceDir, { recursive: true }).catch(() => {});
      await removeState(this.#stateDir, s.volumeId);
    }
    await this.#removeStrays();
    this.o.logger.info("volumes restored", { volumes: this.#volumes.size });
    return this.#volumes.size;
  }

  /** Why a state's paths are not ones this driver makes, or undefined: the source folder is a
   * folder right inside `<state-dir>/mounts` (named by the id's SHA-256 now, by an earlier
   * version otherwise) and the target passes the same check as at publish. */
  #foreignPaths(s: VolumeState): string | undefined {
    const mounts = `${this.o.stateDir}/mounts/`;
    const name = s.sourceDir.startsWith(mounts) ? s.sourceDir.slice(mounts.length) : "";
    if (!/^[\w.-]+$/.test(name) || name === "." || name === "..") {
      return `sourceDir is not a folder in ${mounts}`;
    }
    try {
      checkTarget(this.o.kubeletDir, s.pod.uid, s.targetPath);
    } catch (e) {
      return (e as Error).message;
    }
    return undefined;
  }

  /** Folders in `<state-dir>/mounts` that no volume uses: a crash's leftovers. */
  async #removeStrays(): Promise<void> {
    const dir = `${this.o.stateDir}/mounts`;
    const used = new Set([...this.#volumes.values()].map((v) => v.sourceDir));
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch {
      return;
    }
    for (const e of entries) {
      const path = `${dir}/${e.name}`;
      if (used.has(path)) continue;
      this.o.logger.warn("stray volume folder removed", { folder: path });
      for (const m of mountsBelow(path)) unmount(m);
      await Deno.remove(path, { recursive: true }).catch(() => {});
    }
  }

  /** One rotation: each volume's SecretsStoreImport read again (once per sweep for all its
   * volumes), every distinct (identity, path, version) read once; files changed, added or
   * removed by the secrets or by an edit are swapped in; a volume whose reads fail, or whose
   * SecretsStoreImport is gone or invalid, keeps its last good files. */
  async sweep(): Promise<SweepStats> {
    const started = performance.now();
    const before = { ...this.o.pool.stats };
    const retiring = this.#retired.splice(0);
    const all = [...this.#volumes.values()];
    // Those that need the installation's CA wait for it, keeping their files.
    const volumes = all.filter((v) => !this.#caMissing(v.spec));
    if (volumes.length < all.length) {
      this.o.logger.warn("rotation skipped for volumes that need the store's CA", {
        volumes: all.length - volumes.length,
        error: this.o.defaults().caMissing,
      });
    }
    const problems = new Map<string, string>();
    const specs = await this.#currentSpecs(volumes, problems);
    const wanted = new Map<
      string,
      { identity: Identity; path: StorePath; version?: number | undefined }
    >();
    for (const v of volumes) {
      const spec = specs.get(v.volumeId);
      if (!spec) continue;
      const identity = this.#identity(v);
      for (const s of spec.files.flatMap(sourcesOf)) {
        wanted.set(wantedKey(identity, s), { identity, path: s.path, version: s.version });
      }
    }
    const { results, replaced } = await this.#readAll(wanted);
    retiring.push(...replaced);
    let changedFiles = 0;
    let failedVolumes = 0;
    const notifications: Array<() => void> = [];
    for (const v of volumes) {
      const spec = specs.get(v.volumeId);
      if (!spec) {
        failedVolumes++;
        this.#event(v, "Warning", "SecretRotationFailed", problems.get(v.volumeId) ?? "");
        continue;
      }
      const identity = this.#identity(v);
      const secrets = new Map<string, Secret>();
      let failure: Error | undefined;
      let failedFile: string | undefined;
      for (const f of spec.files) {
        for (const src of sourcesOf(f)) {
          const r = results.get(wantedKey(identity, src));
          if (r instanceof Error) {
            failedFile ??= f.name;
            failure ??= r;
          } else if (r) secrets.set(readKey(src.path, src.version), r);
        }
      }
      try {
        if (failure) throw failure;
        const files = planFiles(v.ssiName, spec.files, secrets, identity.address);
        await this.#serialised(v.volumeId, async () => {
          if (!this.#volumes.has(v.volumeId)) return;
          const { changed, removed, dropped, notify } = this.#writer(v).swap(
            files,
            ownership(v.gid),
            v.spec.files.map((f) => f.name),
          );
          changedFiles += changed.length + removed.length;
          if (changed.length) notifications.push(notify);
          if (changed.length || removed.length) {
            this.o.logger.info("files rotated", {
              volume: v.volumeId,
              files: changed.join(","),
              removed: removed.join(",") || undefined,
              droppedInodes: dropped || undefined,
            });
            this.#event(
              v,
              "Normal",
              "SecretRotated",
              `SecretsStoreImport ${v.pod.namespace}/${v.ssiName}: files rotated: ${
                changed.join(", ") || "none"
              }${removed.length ? `; removed: ${removed.join(", ")}` : ""}`,
            );
          }
          if (spec !== v.spec) await this.#saveSpec(v, spec);
        });
      } catch (e) {
        failedVolumes++;
        // Files swapped before a failure: their watchers still hear of them.
        const partial = (e as { notify?: () => void }).notify;
        if (partial) notifications.push(partial);
        this.o.logger.warn("rotation skipped, last files kept", {
          volume: v.volumeId,
          ssi: `${v.pod.namespace}/${v.ssiName}`,
          error: (e as Error).message,
        });
        const kind = e instanceof StoreError ? e.kind : (e as Error).name;
        this.#event(
          v,
          "Warning",
          "SecretRotationFailed",
          `SecretsStoreImport ${v.pod.namespace}/${v.ssiName}${
            failedFile === undefined ? "" : `, file "${failedFile}"`
          }: ${kind}: ${(e as Error).message}; the last files are kept`,
        );
      }
    }
    // One grace period for the whole sweep, then the watches on replaced inodes hear of it,
    // and the leases of the credentials replaced are revoked (readers had the same grace).
    if (notifications.length || retiring.length) {
      await new Promise((r) => setTimeout(r, GRACE_MS));
      for (const notify of notifications) notify();
    }
    for (const k of retiring) {
      // One that ends by now anyway is left to its end.
      if (endOf(k) > Date.now()) this.#revokeLease(k, "new credentials replaced it");
    }
    this.#releaseLeases();
    return {
      volumes: volumes.length,
      identities: new Set(volumes.map((v) => identityKey(this.#identity(v)))).size,
      reads: this.o.pool.stats.reads - before.reads,
      logins: this.o.pool.stats.logins - before.logins,
      changedFiles,
      failedVolumes,
      ms: Math.round(performance.now() - started),
    };
  }

  /** The spec each volume rotates with this sweep: its SecretsStoreImport as it is now, read
   * once for all the volumes that use it. Undefined (the volume keeps its files) when it
   * was deleted or is invalid; the saved spec when the API server cannot be reached, or
   * when the edit changes how the volume logs in (that needs a new Pod: the kubelet's tokens
   * are for the audience the volume was published with). */
  async #currentSpecs(
    volumes: VolumeState[],
    problems: Map<string, string>,
  ): Promise<Map<string, VolumeState["spec"] | undefined>> {
    const names = [...new Set(volumes.map((v) => `${v.pod.namespace}/${v.ssiName}`))];
    const read = new Map<string, SsiSpecValue | CsiError>();
    await mapBounded(names, this.o.readConcurrency ?? 16, async (name) => {
      const [namespace, ssiName] = name.split("/") as [string, string];
      try {
        read.set(name, (await this.#readSsi(namespace, ssiName)).spec);
      } catch (e) {
        read.set(name, e instanceof CsiError ? e : new CsiError(status.UNKNOWN, String(e)));
      }
    });
    const out = new Map<string, VolumeState["spec"] | undefined>();
    const warned = new Set<string>();
    const warnOnce = (name: string, msg: string, fields: Record<string, unknown>) => {
      if (warned.has(name + msg)) return;
      warned.add(name + msg);
      this.o.logger.warn(msg, { ssi: name, ...fields });
    };
    for (const v of volumes) {
      const name = `${v.pod.namespace}/${v.ssiName}`;
      const r = read.get(name)!;
      if (r instanceof CsiError) {
        if (r.code === status.NOT_FOUND || r.code === status.INVALID_ARGUMENT) {
          const problem = `SecretsStoreImport ${name} ${
            r.code === status.NOT_FOUND ? "not found" : "is invalid"
          }: last files kept`;
          warnOnce(name, problem, { error: r.message });
          problems.set(v.volumeId, r.code === status.NOT_FOUND ? problem : r.message);
          out.set(v.volumeId, undefined);
        } else {
          warnOnce(
            name,
            `SecretsStoreImport ${name} could not be read: rotating with the saved spec`,
            { error: r.message },
          );
          out.set(v.volumeId, v.spec);
        }
        continue;
      }
      const moved = LOGIN_FIELDS.filter((k) => JSON.stringify(r[k]) !== JSON.stringify(v.spec[k]));
      if (moved.length) {
        warnOnce(
          name,
          `SecretsStoreImport ${name}: an edit of ${
            moved.map((k) => `spec.${k}`).join(", ")
          } applies to new Pods only; mounted volumes keep their files as published`,
          { volume: v.volumeId },
        );
        out.set(v.volumeId, v.spec);
        continue;
      }
      out.set(v.volumeId, JSON.stringify(r) === JSON.stringify(v.spec) ? v.spec : r);
    }
    return out;
  }

  /** The edited spec becomes the volume's: saved, so a restart rotates with it too. */
  async #saveSpec(v: VolumeState, spec: VolumeState["spec"]): Promise<void> {
    const next = { ...v, spec };
    await saveState(this.#stateDir, next);
    this.#volumes.set(v.volumeId, next);
    this.o.logger.info("SecretsStoreImport edit applied", {
      volume: v.volumeId,
      ssi: `${v.pod.namespace}/${v.ssiName}`,
      files: spec.files.map((f) => f.name).join(","),
    });
  }

  /** An event on the volume's Pod, named by the checked values it was published with. */
  #event(v: VolumeState, type: "Normal" | "Warning", reason: string, note: string): void {
    this.o.events?.emit({
      regarding: {
        apiVersion: "v1",
        kind: "Pod",
        namespace: v.pod.namespace,
        name: v.pod.name,
        uid: v.pod.uid,
      },
      type,
      reason,
      action: "Rotate",
      note,
    });
  }

  #writer(v: VolumeState): RotationWriter {
    let w = this.#writers.get(v.volumeId);
    if (!w) {
      this.#writers.set(v.volumeId, w = new RotationWriter(v.sourceDir, this.o.volumeBytes));
    }
    return w;
  }

  get #stateDir(): string {
    return `${this.o.stateDir}/volumes`;
  }

  async #publish(req: PublishRequest): Promise<void> {
    const vr = readVolumeContext(req.volumeContext);
    // The token's claims are who is asking; a context that says otherwise is refused here,
    // before anything is read in the namespace it names.
    const tokens = bindTokens(vr);
    const target = checkTarget(this.o.kubeletDir, vr.pod.uid, req.targetPath);
    const known = this.#volumes.get(req.volumeId);
    if (known && known.targetPath !== req.targetPath) {
      throw new CsiError(
        status.FAILED_PRECONDITION,
        `volume ${req.volumeId} is already published at ${known.targetPath}; it cannot also be published at ${req.targetPath}`,
      );
    }
    if (known) samePod(req.volumeId, known.pod, vr.pod);
    if (known && isMountPoint(req.targetPath)) {
      // The kubelet republishing with fresh tokens: of this volume's Pod only (checked above).
      if (tokens.size) {
        const t = tokenFor(tokens, known.spec.audience);
        this.o.pool.offer(this.#identity(known), req.volumeId, t.jwt, t.claims.expiresAt);
      }
      return;
    }
    if (isMountPoint(target)) throw mountedElse(req.targetPath); // before reading anything
    if (!tokens.size) {
      throw invalid(
        "volume context has no csi.storage.k8s.io/serviceAccount.tokens: the CSIDriver object must set tokenRequests",
      );
    }
    try {
      await this.#publishNew(req, vr.ssiName, tokens, target, known?.sourceDir);
    } catch (e) {
      this.#pending.delete(req.volumeId);
      if (!this.#volumes.has(req.volumeId)) this.#forget(req.volumeId);
      throw e;
    }
    this.#pending.delete(req.volumeId);
  }

  async #publishNew(
    req: PublishRequest,
    ssiName: string,
    tokens: ReturnType<typeof bindTokens>,
    target: string,
    sourceDir: string | undefined,
  ): Promise<void> {
    // Every token agrees with the context, so any one's claims name the Pod.
    const claims = tokens.values().next().value!.claims;
    const ssi = await this.#readSsi(claims.namespace, ssiName);
    const token = tokenFor(tokens, ssi.spec.audience);
    if (ssi.spec.address) {
      // Checked here, not in the schema: whether http is allowed is the installation's call.
      try {
        parseStoreAddress(ssi.spec.address, {
          allowInsecureHttp: this.o.defaults().allowInsecureHttp,
        });
      } catch (e) {
        throw invalid(
          `SecretsStoreImport ${claims.namespace}/${ssiName}: spec.address: ${
            (e as Error).message
          }`,
        );
      }
    }
    const missing = this.#caMissing(ssi.spec);
    if (missing) {
      throw new CsiError(
        status.UNAVAILABLE,
        `SecretsStoreImport ${claims.namespace}/${ssiName}: ${missing}`,
      );
    }
    const state: VolumeState = {
      volumeId: req.volumeId,
      targetPath: req.targetPath,
      // A volume restored from the previous version keeps the folder it was given then.
      sourceDir: sourceDir ?? `${this.o.stateDir}/mounts/${await volumeFolder(req.volumeId)}`,
      pod: {
        namespace: token.claims.namespace,
        name: token.claims.pod.name,
        uid: token.claims.pod.uid,
        serviceAccount: token.claims.serviceAccount.name,
      },
      ssiName,
      spec: ssi.spec,
      gid: req.mountGroup,
    };
    const where = `SecretsStoreImport ${state.pod.namespace}/${ssiName}`;
    const identity = this.#identity(state);
    this.#pending.set(req.volumeId, identityKey(identity));
    try {
      await this.o.pool.admit(identity, req.volumeId, token.jwt, token.claims.expiresAt);
    } catch (e) {
      throw storeFailure(
        e as Error,
        `${where}: login as ServiceAccount ${state.pod.namespace}/${state.pod.serviceAccount}`,
      );
    }
    const wanted = new Map(
      ssi.spec.files.flatMap(sourcesOf).map((s) => [
        wantedKey(identity, s),
        { identity, path: s.path, version: s.version },
      ]),
    );
    const { results, replaced } = await this.#readAll(wanted);
    this.#retired.push(...replaced);
    const secrets = new Map<string, Secret>();
    for (const f of ssi.spec.files) {
      for (const s of sourcesOf(f)) {
        const r = results.get(wantedKey(identity, s));
        if (r instanceof Error) throw storeFailure(r, `${where}, file "${f.name}"`);
        secrets.set(readKey(s.path, s.version), r!);
      }
    }
    let files;
    try {
      files = planFiles(
        `${state.pod.namespace}/${ssiName}`,
        ssi.spec.files,
        secrets,
        identity.address,
      );
    } catch (e) {
      if (e instanceof FilePlanError) throw new CsiError(status.FAILED_PRECONDITION, e.message);
      throw e;
    }
    try {
      checkFits(files, this.o.volumeBytes);
    } catch (e) {
      throw new CsiError(status.RESOURCE_EXHAUSTED, `${where}: ${(e as Error).message}`);
    }
    // Recorded before anything is mounted, so a crash from here on leaves a state that
    // start-up finds and undoes; complete only once the mounts are in place.
    await saveState(this.#stateDir, { ...state, pending: true });
    try {
      await this.#mount(state, files, target);
    } catch (e) {
      await removeState(this.#stateDir, state.volumeId);
      throw e;
    }
    await saveState(this.#stateDir, state);
    this.#volumes.set(req.volumeId, state);
    this.o.logger.info("volume published", {
      volume: req.volumeId,
      pod: `${state.pod.namespace}/${state.pod.name}`,
      ssi: ssiName,
      files: files.length,
    });
  }

  /** Writes into a fresh tmpfs, then shows it read-only at the target; on any failure
   * nothing stays mounted or written. */
  async #mount(
    s: VolumeState,
    files: Parameters<typeof writeFiles>[1],
    target: string,
  ): Promise<void> {
    try {
      await Deno.mkdir(s.sourceDir, { recursive: true, mode: 0o700 });
      if (!isMountPoint(s.sourceDir)) mountTmpfs(s.sourceDir, { sizeBytes: this.o.volumeBytes });
      writeFiles(s.sourceDir, files, ownership(s.gid));
      await Deno.mkdir(target, { recursive: true });
      // Again right before the mount: a symlink put in the way since the first check.
      recheckTarget(this.o.kubeletDir, target, s.targetPath);
      if (isMountPoint(target)) throw mountedElse(s.targetPath);
      bindReadOnly(s.sourceDir, target); // undoes itself when it fails
    } catch (e) {
      unmount(s.sourceDir);
      await Deno.remove(s.sourceDir, { recursive: true }).catch(() => {});
      if (e instanceof CsiError) throw e;
      throw new CsiError(
        isNoSpace(e) ? status.RESOURCE_EXHAUSTED : status.INTERNAL,
        `cannot mount the volume at ${s.targetPath}: ${(e as Error).message}${
          isNoSpace(e) ? `; raise ${SIZE_SETTING}` : ""
        }`,
      );
    }
  }

  async #readSsi(namespace: string, name: string) {
    let path;
    try {
      path = namespacedObjectPath(
        SSI_RESOURCE,
        { field: "volume context csi.storage.k8s.io/pod.namespace", value: namespace },
        { field: `volumeAttributes.${SSI_ATTRIBUTE}`, value: name },
      );
    } catch (e) {
      if (e instanceof KubeNameError) throw invalid(e.message);
      throw e;
    }
    let raw: unknown;
    try {
      raw = await this.o.kube.get(path, z.unknown());
    } catch (e) {
      if (e instanceof KubeError && e.status === 404) {
        throw new CsiError(status.NOT_FOUND, `SecretsStoreImport ${namespace}/${name} not found`);
      }
      throw new CsiError(
        status.UNAVAILABLE,
        `cannot read SecretsStoreImport ${namespace}/${name}: ${(e as Error).message}`,
      );
    }
    // Checked again here, with the CRD's rules: the driver does not rely on the API server alone.
    const r = SsiSchema.safeParse(raw);
    if (!r.success) {
      throw invalid(
        `SecretsStoreImport ${namespace}/${name} is invalid: ${describeIssues(r.error.issues)}`,
      );
    }
    return r.data;
  }

  /** Why a volume of `spec` cannot log in now: it relies on the installation's CA, which is
   * not known yet (stronghold_ca.ts). */
  #caMissing(spec: SsiSpecValue): string | undefined {
    return spec.caCert || spec.skipTLSVerify ? undefined : this.o.defaults().caMissing;
  }

  #identity(s: VolumeState): Identity {
    const d = this.o.defaults();
    return {
      address: s.spec.address || d.address,
      namespace: s.spec.namespace || d.namespace,
      caCert: s.spec.caCert || d.caCert,
      skipVerify: s.spec.skipTLSVerify,
      authPath: s.spec.authPath ?? d.authPath,
      role: s.spec.role,
      serviceAccount: { namespace: s.pod.namespace, name: s.pod.serviceAccount },
    };
  }

  /** Reads every wanted secret with a bound on reads in flight; failures kept as values.
   * A dynamic secret whose lease can be kept is not read: its lease is renewed when due. */
  async #readAll(
    wanted: Map<string, { identity: Identity; path: StorePath; version?: number | undefined }>,
  ): Promise<{ results: Map<string, Secret | Error>; replaced: Kept[] }> {
    const results = new Map<string, Secret | Error>();
    const replaced: Kept[] = [];
    await mapBounded([...wanted.entries()], this.o.readConcurrency ?? 16, async ([key, w]) => {
      let p = this.#reading.get(key);
      if (!p) {
        p = this.#source(key, w, replaced).finally(() => this.#reading.delete(key));
        this.#reading.set(key, p);
      }
      try {
        results.set(key, await p);
      } catch (e) {
        results.set(key, e instanceof Error ? e : new Error(String(e)));
      }
    });
    return { results, replaced };
  }

  /** One wanted secret: the kept one while its lease lasts (renewed when due), else read. */
  async #source(
    key: string,
    w: { identity: Identity; path: StorePath; version?: number | undefined },
    replaced: Kept[],
  ): Promise<Secret> {
    const every = this.o.rotationEveryMs ?? 120_000;
    const k = this.#leases.get(key);
    if (k) {
      const plan = planLease(k, Date.now(), every, await this.o.pool.ensure(w.identity));
      if (plan === "keep") return k.secret;
      let why = "the store token it was read with was replaced";
      if (plan === "renew") {
        const sentAt = Date.now();
        try {
          const lease = await this.o.pool.renewLease(w.identity, k.secret.lease.id, k.increment);
          const next = renewed(k, lease, sentAt, every);
          if (next) {
            this.#leases.set(key, next);
            return next.secret;
          }
          why = "it reaches its maximum TTL before the sweep after next";
        } catch (e) {
          why = `renewal failed: ${(e as Error).message}`;
        }
      } else if (k.login === this.o.pool.generation(w.identity)) {
        why = "it cannot be renewed, and ends before the sweep after next";
      }
      this.o.logger.info("reading a dynamic secret anew: its lease cannot be kept", {
        path: w.path,
        lease: k.secret.lease.id,
        why,
      });
    }
    const at = Date.now();
    const secret = await this.o.pool.read(w.identity, w.path, w.version);
    const granted = secret.lease?.leaseSeconds ?? 0;
    if (!k && granted > 0 && granted * 1000 < 3 * every) {
      // Renewals happen at sweeps only: such a lease may end between two of them.
      this.o.logger.warn(
        "a dynamic secret's lease is shorter than three rotation intervals, so it may end between two sweeps: lower --rotation-interval or raise the role's default_ttl",
        { path: w.path, lease_seconds: granted, rotation_interval_ms: every },
      );
    }
    const login = this.o.pool.generation(w.identity);
    const old = this.#leases.readDone(key, w.identity, secret, at, login);
    if (old) replaced.push(old);
    return secret;
  }

  /** Runs `fn` after any other work on the same volume, so publish, unpublish and rotation
   * of one volume never interleave. */
  #serialised<T>(volumeId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#busy.get(volumeId) ?? Promise.resolve();
    const run = prev.catch(() => {}).then(fn);
    this.#busy.set(volumeId, run);
    run.finally(() => {
      if (this.#busy.get(volumeId) === run) this.#busy.delete(volumeId);
    }).catch(() => {});
    return run;
  }
}

/** A target with a mount that is not this volume's (that case republishes): another
 * volume's, or a stranger's; mounting over it would hide it and unpublish would take it. */
function mountedElse(target: string): CsiError {
  return new CsiError(status.FAILED_PRECONDITION, `something else is already mounted at ${target}`);
}

/** A republish names the Pod the volume was published for, or it is someone else's call. */
function samePod(volumeId: string, had: PodIdentity, now: PodIdentity): void {
  for (const k of ["namespace", "name", "uid", "serviceAccount"] as const) {
    if (had[k] !== now[k]) {
      const field = k === "serviceAccount" ? "serviceAccount.name" : `pod.${k}`;
      throw new CsiError(
        status.PERMISSION_DENIED,
        `volume ${volumeId} is published for Pod ${had.namespace}/${had.name}; volume context csi.storage.k8s.io/${field} ${
          JSON.stringify(now[k])
        } is another`,
      );
    }
  }
}

/** The spec fields that decide how a volume logs in and where it reads. */
const LOGIN_FIELDS = [
  "role",
  "authPath",
  "namespace",
  "address",
  "caCert",
  "skipTLSVerify",
  "audience",
] as const;

type SsiSpecValue = VolumeState["spec"];

/** Runs `fn` over `items`, at most `limit` at a time. */
/** The key of one read by one identity: the same path read by two identities is two reads,
 * since each may be allowed different secrets. */
function wantedKey(
  identity: Identity,
  source: { path: StorePath; version?: number | undefined },
): string {
  return `${identityKey(identity)}|${readKey(source.path, source.version)}`;
}

function ownership(gid?: number): Ownership {
  return gid === undefined ? { mode: 0o444 } : { uid: 0, gid, mode: 0o440 };
}

/** A store failure as the gRPC status the kubelet shows in the Pod's events. */
function storeFailure(e: Error, where: string): CsiError {
  if (!(e instanceof StoreError)) return new CsiError(status.INTERNAL, `${where}: ${e.message}`);
  const code = e.kind === "permission_denied"
    ? status.PERMISSION_DENIED
    : e.kind === "not_found"
    ? status.NOT_FOUND
    : e.kind === "bad_request"
    ? status.FAILED_PRECONDITION
    : status.UNAVAILABLE;
  return new CsiError(code, `${where}: ${e.message}`);
}
