/** The store as a SecretSource: one Kubernetes-auth login, made on the first read and
 * shared by every read after it. */
import type { Logger } from "../log/logger.ts";
import { parseCaPem } from "../vault/ca_pem.ts";
import { type LoginResult, StoreClient } from "../vault/client.ts";
import { StoreError } from "../vault/errors.ts";
import type { StorePath } from "../config/store_path.ts";
import type { RequestObserver } from "../vault/requests.ts";
import { SETTINGS_ENV } from "../config/injector_env.ts";
import { setNoDelayOnOwnSockets } from "../sys/tcp_nodelay.ts";
import { type InjectorSettings, SettingsError } from "./settings.ts";
import type { SecretSource } from "./source.ts";

/** The client for the settings' store and the role to log in as; fails early, naming the
 * variable, when one is missing. */
export function storeClient(
  s: InjectorSettings,
  logger: Logger,
  observe?: RequestObserver,
): { client: StoreClient; role: string } {
  if (!s.address) {
    throw new SettingsError(
      `${SETTINGS_ENV.address} is not set: give the store address with the annotation secrets-store.deckhouse.io/addr or the installation's connection.url`,
    );
  }
  if (!s.role) {
    throw new SettingsError(
      `${SETTINGS_ENV.role} is not set: the Pod needs the annotation secrets-store.deckhouse.io/role`,
    );
  }
  const role = s.role;
  if (s.skipVerify) {
    logger.warn("TLS certificate verification of the store is off (tls-skip-verify)", {
      address: s.address.text,
    });
  }
  const client = new StoreClient({
    address: s.address,
    namespace: s.namespace,
    caCert: s.caFile ? readCa(s.caFile) : s.caCert,
    skipVerify: s.skipVerify,
    requestTimeoutMs: s.clientTimeoutMs,
    logger,
    observe,
  });
  return { client, role };
}

/** Builds the source from settings; fails early, naming the variable, when one is missing. */
export function storeSource(
  s: InjectorSettings,
  logger: Logger,
  observe?: RequestObserver,
): SecretSource {
  const { client, role } = storeClient(s, logger, observe);
  let login: Promise<LoginResult> | undefined;
  const leasedPaths = new Set<StorePath>();
  /** `request` once logged in, its failure naming the settings to check. */
  const loggedIn = async <T>(signal: AbortSignal, request: () => Promise<T>): Promise<T> => {
    try {
      login ??= readToken(s.tokenFile)
        .then((jwt) => client.login(s.authPath, role, jwt, signal))
        .then((r) => {
          // Every read takes the login's connection (HTTP/2). Deno's fetch leaves Nagle on,
          // and the next request could wait for the store's delayed ACK (40 ms) behind
          // hyper's SETTINGS acknowledgement (docs/benchmarks.md); the injector's only TCP
          // sockets are its store connections.
          setNoDelayOnOwnSockets();
          return r;
        });
      await login;
      return await request();
    } catch (e) {
      const hint = e instanceof StoreError ? settingsToCheck(e) : undefined;
      throw hint ? (e as StoreError).withHint(hint) : e;
    }
  };
  return {
    name: client.address,
    leasedPaths,
    read: (path, version, signal) =>
      loggedIn(signal, async () => {
        const secret = await client.read(path, { version, signal });
        if (secret.lease) leasedPaths.add(path);
        return secret;
      }),
    write: (path, body, signal) =>
      loggedIn(signal, async () => {
        const answer = await client.write(path, body, { signal });
        if (answer.lease) leasedPaths.add(path);
        return answer;
      }),
    token: (signal) => loggedIn(signal, () => login!.then((r) => r.token)),
    async revoke(signal) {
      // Only a login that succeeded left a token; a failed one is settled with nothing to undo.
      if (login && await login.then(() => true, () => false)) await client.revokeSelf({ signal });
    },
    close: () => client.close(),
  };
}

/** Bounds the one revoke request on its own: the app's start waits for it, so a store that is
 * slow to answer costs this at most, and a token left behind still expires at its TTL. */
export const REVOKE_TIMEOUT_MS = 2_000;

/** Revokes the source's store token, bounded; a failure is a warning, since the app must
 * start (or the supervisor end) either way. */
export async function revokeQuietly(
  source: SecretSource,
  logger: Logger,
  timeoutMs: number,
): Promise<void> {
  if (!source.revoke) return;
  const started = performance.now();
  try {
    await source.revoke(AbortSignal.timeout(Math.min(timeoutMs, REVOKE_TIMEOUT_MS)));
    logger.debug("revoked the store token", { ms: Math.round(performance.now() - started) });
  } catch (e) {
    logger.warn("the store token was not revoked; it expires at its TTL", {
      reason: (e as Error).message,
      setting: SETTINGS_ENV.revokeToken,
    });
  }
}

/** Revokes the leases the source keeps (the watch modes' login), bounded as the token's
 * revocation is; failures are logged by the keeper. Before the token's revocation, which
 * would take the requests' credentials with it. */
export async function revokeLeases(source: SecretSource, timeoutMs: number): Promise<void> {
  await source.leases?.revokeAll(AbortSignal.timeout(Math.min(timeoutMs, REVOKE_TIMEOUT_MS)));
}

/** The settings behind a store failure, so the message names the variable to fix (and, in
 * docs/troubleshooting.md, the annotation it comes from). */
export function settingsToCheck(e: StoreError): string | undefined {
  const v = SETTINGS_ENV;
  switch (e.kind) {
    case "unreachable":
      return `check ${v.address}`;
    case "timeout":
      return `check ${v.address} and ${v.clientTimeout}`;
    case "tls":
      return `check ${v.caFile}, ${v.caCert} and ${v.address}`;
    default:
      if (e.status !== undefined && e.status >= 300 && e.status < 400) return `check ${v.address}`;
      if (e.operation === "login") return `check ${v.role} and ${v.authPath}`;
      // A read names its path through the variable already; only the role's policy is a setting.
      return e.kind === "permission_denied"
        ? `check the policy of the role in ${v.role}`
        : undefined;
  }
}

function readCa(file: string): string {
  const fail = (why: string): never => {
    throw new SettingsError(
      `Cannot use the store CA certificate ${file} (${SETTINGS_ENV.caFile}): ${why}`,
    );
  };
  let text: string;
  try {
    text = Deno.readTextFileSync(file);
  } catch (e) {
    return fail((e as Error).message);
  }
  try {
    return parseCaPem(text);
  } catch (e) {
    return fail((e as Error).message);
  }
}

export async function readToken(file: string): Promise<string> {
  try {
    const jwt = (await Deno.readTextFile(file)).trim();
    if (jwt) return jwt;
    throw new Error("the file is empty");
  } catch (e) {
    throw new SettingsError(
      `Cannot read the ServiceAccount token ${file} (${SETTINGS_ENV.tokenFile}): ${
        (e as Error).message
      } (is automountServiceAccountToken off?)`,
    );
  }
}
