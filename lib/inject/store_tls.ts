/** Whether an injector run will open a TLS connection to the store, told from its raw
 * environment before the injector's modules and settings parser load: the moment to start the
 * TLS warm-up (lib/http/tls_warmup.ts) so that it runs beside them. A wrong "yes" costs one
 * warm-up's CPU on another thread; a wrong "no" the first handshake's set-up as before. */
import { SETTINGS_ENV } from "../config/injector_env.ts";
import { isEnvTemplate } from "../template/prefix.ts";

/** True when the environment refers to the store (a template, or env-from-path, as
 * resolve.ts's needsStore) and the store's address is https. */
export function willUseStoreTls(env: Record<string, string>): boolean {
  if (!/^https:/i.test(env[SETTINGS_ENV.address]?.trim() ?? "")) return false;
  if (env[SETTINGS_ENV.envFromPath]?.trim()) return true;
  return Object.values(env).some(isEnvTemplate);
}
