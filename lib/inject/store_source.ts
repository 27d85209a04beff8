/** The store as a SecretSource: one Kubernetes-auth login, made on the first read and
 * shared by every read after it. */
import type { Logger } from "../log/logger.ts";
import { type LoginResult, StoreClient } from "../vault/client.ts";
import { type InjectorSettings, SETTINGS_ENV, SettingsError } from "./settings.ts";
import type { SecretSource } from "./source.ts";

/** Builds the source from settings; fails early, naming the variable, when one is missing. */
export function storeSource(s: InjectorSettings, logger: Logger): SecretSource {
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
  });
  let login: Promise<LoginResult> | undefined;
  return {
    name: client.address,
    async read(path, version, signal) {
      login ??= readToken(s.tokenFile).then((jwt) => client.login(s.authPath, role, jwt, signal));
      await login;
      return await client.read(path, { version, signal });
    },
    close: () => client.close(),
  };
}

function readCa(file: string): string {
  try {
    return Deno.readTextFileSync(file);
  } catch (e) {
    throw new SettingsError(
      `Cannot read the store CA certificate ${file} (${SETTINGS_ENV.caFile}): ${
        (e as Error).message
      }`,
    );
  }
}

async function readToken(file: string): Promise<string> {
  try {
    const jwt = (await Deno.readTextFile(file)).trim();
    if (jwt) return jwt;
    throw new Error("the file is empty");
  } catch (e) {
    throw new SettingsError(
      `Cannot read the ServiceAccount token ${file}: ${
        (e as Error).message
      } (is automountServiceAccountToken off?)`,
    );
  }
}
