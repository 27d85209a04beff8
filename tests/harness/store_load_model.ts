/** The store-load model of docs/store-load.md: requests to the store and live store tokens,
 * from what the product does per injector run, per CSI publish and per rotation. The same
 * functions print the document's cluster table (scripts/bench/store_load.ts) and predict the
 * counts the store-load run is checked against (tests/store_load_test.ts). */

/** Requests by operation; the engine lookup of a mount (sys/internal/ui/mounts) is a read. */
export interface Requests {
  login: number;
  read: number;
  renew: number;
  revoke: number;
}

export const total = (r: Requests) => r.login + r.read + r.renew + r.revoke;

const add = (a: Requests, b: Requests): Requests => ({
  login: a.login + b.login,
  read: a.read + b.read,
  renew: a.renew + b.renew,
  revoke: a.revoke + b.revoke,
});

const times = (r: Requests, n: number): Requests => ({
  login: r.login * n,
  read: r.read * n,
  renew: r.renew * n,
  revoke: r.revoke * n,
});

/** One injector run that asks the store (a container start, or an exec probe that cannot take
 * the app's values): one login, one engine lookup per distinct mount, one read per distinct
 * path, one revoke unless revocation is off. A probe that takes the app's values costs 0. */
export function injectorRun(o: { paths: number; mounts: number; revoke: boolean }): Requests {
  return { login: 1, read: o.mounts + o.paths, renew: 0, revoke: o.revoke ? 1 : 0 };
}

/** The CSI driver on one node over a stretch of time: each volume published proves its own
 * ServiceAccount token with a login, which replaces (and revokes) its identity's previous
 * token, and reads its paths; each identity's first read asks its mounts' engines; each
 * sweep reads every distinct (identity, path) once; a token is renewed by a new login
 * `renewBefore` ahead of its TTL; the last token of each identity is revoked when its last
 * volume goes (or the driver stops). */
export function csiNode(o: {
  volumes: number;
  identities: number;
  /** Distinct paths per identity (its volumes' files share them). */
  paths: number;
  mounts: number;
  /** Identities seen by each sweep (usually `identities` every time). */
  sweeps: readonly number[];
  /** Logins made because a token neared its TTL: identities × floor(time / (TTL - T - 60 s)). */
  relogins?: number;
  /** Every identity's token revoked at the end (its volumes unpublished or the driver stopped). */
  ended: boolean;
}): Requests {
  const relogins = o.relogins ?? 0;
  return {
    login: o.volumes + relogins,
    read: o.volumes * o.paths + o.identities * o.mounts +
      o.sweeps.reduce((n, i) => n + i * o.paths, 0),
    renew: 0,
    revoke: o.volumes - o.identities + relogins + (o.ended ? o.identities : 0),
  };
}

/** A per-pod-polling design like the module's CSI provider: every volume logs in and reads
 * each of its paths every rotation period, and no token is revoked. */
export function perPodPolling(o: { volumes: number; paths: number; periods: number }): Requests {
  return {
    login: o.volumes * o.periods,
    read: o.volumes * o.paths * o.periods,
    renew: 0,
    revoke: 0,
  };
}

/** A cluster, for the table of docs/store-load.md. */
export interface Cluster {
  nodes: number;
  /** Injected Pods (one injected container each) per node. */
  podsPerNode: number;
  /** Share of those Pods with a wrapped exec probe (mutate-probes). */
  probeShare: number;
  probePeriodS: number;
  /** Container starts per Pod per day (rollouts, restarts). */
  startsPerPodPerDay: number;
  paths: number;
  mounts: number;
  /** The roles' token TTL. */
  ttlS: number;
  /** How long one injector run holds its token before revoking it. */
  runS: number;
  /** Watch modes: secret-poll-interval. */
  pollS: number;
  /** CSI volumes per node, and the distinct identities (role, ServiceAccount) among them. */
  csiVolumesPerNode: number;
  csiIdentitiesPerNode: number;
  rotationS: number;
}

export interface Load {
  design: string;
  perMinute: Requests;
  liveTokens: number;
}

/** Requests per minute and live tokens, design by design. */
export function clusterLoad(c: Cluster): Load[] {
  const pods = c.nodes * c.podsPerNode;
  const probeRuns = pods * c.probeShare * 60 / c.probePeriodS;
  const starts = pods * c.startsPerPodPerDay / 1440;
  const run = (revoke: boolean) => injectorRun({ paths: c.paths, mounts: c.mounts, revoke });
  const loginsPerS = (perMinute: Requests) => perMinute.login / 60;
  const injector = (name: string, probeRunsToStore: number, revoke: boolean): Load => {
    const perMinute = times(run(revoke), starts + probeRunsToStore);
    // A revoked token lives for the run; one not revoked for the TTL (Little's law).
    return {
      design: name,
      perMinute,
      liveTokens: loginsPerS(perMinute) * (revoke ? c.runS : c.ttlS),
    };
  };
  const volumes = c.nodes * c.csiVolumesPerNode;
  const identities = c.nodes * c.csiIdentitiesPerNode;
  const rotationsPerMinute = 60 / c.rotationS;
  // Steady state: republishes cost nothing; one new login per identity every TTL - T - 60 s
  // (at every sweep for a TTL shorter than that), and the token it replaces revoked.
  const relogin = identities * 60 / Math.max(c.rotationS, c.ttlS - c.rotationS - 60);
  const csi: Requests = {
    login: relogin,
    read: identities * c.paths * rotationsPerMinute,
    renew: 0,
    revoke: relogin,
  };
  const polling = perPodPolling({ volumes, paths: c.paths, periods: rotationsPerMinute });
  // Each watched container keeps one login, renewed at 2/3 of its TTL, and polls its paths.
  const watch: Requests = {
    login: 0,
    read: pods * c.paths * 60 / c.pollS,
    renew: pods * 60 / (c.ttlS * 2 / 3),
    revoke: 0,
  };
  return [
    injector("injector, exec probes take the app's values", 0, true),
    injector("injector, every exec probe asks the store, revoke on", probeRuns, true),
    injector("injector, every exec probe asks the store, revoke off", probeRuns, false),
    {
      design: "injector, watch mode (restart-on-secret-change), no probes",
      perMinute: add(times(run(true), starts), watch),
      liveTokens: pods,
    },
    { design: "CSI driver (this product)", perMinute: csi, liveTokens: identities },
    {
      design: "CSI, per-pod polling (the module's provider)",
      perMinute: polling,
      liveTokens: loginsPerS(polling) * c.ttlS,
    },
  ];
}
