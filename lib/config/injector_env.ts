/** The injector's settings as environment variables: the webhook writes them into a Pod, the
 * injector reads them back (lib/inject/settings.ts), so both roles name them from here. */

/** Variable names, one per setting; the annotation each comes from is in the comment. */
export const SETTINGS_ENV = {
  address: "SECRETS_STORE_ADDR", // addr
  role: "SECRETS_STORE_ROLE", // role
  authPath: "SECRETS_STORE_AUTH_PATH", // auth-path
  namespace: "SECRETS_STORE_NAMESPACE", // namespace
  caCert: "SECRETS_STORE_CA_CERT", // the installation's caCert (PEM)
  caFile: "SECRETS_STORE_CA_FILE", // tls-secret, mounted as a file
  skipVerify: "SECRETS_STORE_TLS_SKIP_VERIFY", // tls-skip-verify
  ignoreMissing: "SECRETS_STORE_IGNORE_MISSING_SECRETS", // ignore-missing-secrets
  clientTimeout: "SECRETS_STORE_CLIENT_TIMEOUT", // client-timeout
  logLevel: "SECRETS_STORE_LOG_LEVEL", // log-level
  jsonLog: "SECRETS_STORE_JSON_LOG", // enable-json-log
  tokenFile: "SECRETS_STORE_TOKEN_FILE", // service-account-token-path, else the default path
  envFromPath: "SECRETS_STORE_ENV_FROM_PATH", // env-from-path
  /** Revoke the injector's store token before it starts the app; true unless "false". */
  revokeToken: "SECRETS_STORE_REVOKE_TOKEN", // revoke-token
  allowInsecureHttp: "SECRETS_STORE_ALLOW_INSECURE_HTTP", // the installation's connection.allowInsecureHttp
  /** `secrets-store:login` may hand the app the injector's store token. The webhook writes it
   * on every container it mutates, "true" or "false", replacing the Pod's own: a Pod cannot
   * allow itself what the installation does not (and `env` wins over `envFrom`). */
  allowLoginToken: "SECRETS_STORE_ALLOW_LOGIN_TOKEN", // the installation's injector.allowLoginToken
  restartOnSecretChange: "SECRETS_STORE_RESTART_ON_SECRET_CHANGE", // restart-on-secret-change
  pollInterval: "SECRETS_STORE_SECRET_POLL_INTERVAL", // secret-poll-interval
  /** Tests only, never written by the webhook: a lower minimum for the poll interval, so a
   * test sees several polls in seconds. */
  testPollMinimum: "SECRETS_STORE_TEST_POLL_MINIMUM",
  /** Tests only: where the supervisor writes its termination message (the kubelet reads
   * /dev/termination-log). */
  terminationLog: "SECRETS_STORE_TERMINATION_LOG",
  /** Tests only: the directory read as /proc by a wrapped exec probe (probe_env.ts), so a
   * test's file stands in for the app's /proc/1/environ. */
  testProcRoot: "SECRETS_STORE_TEST_PROC_ROOT",
  /** The launcher's soft open-files limit, for the app: only a launcher of the Deno CLI needs
   * it, since the CLI raises the limit before any JS runs (process_state.ts). */
  rlimitNofile: "SECRETS_STORE_RLIMIT_NOFILE",
  /** The app's own LD_LIBRARY_PATH ("" for none), saved by the webhook, which points
   * LD_LIBRARY_PATH at the injector's libraries so it starts in images without glibc. */
  appLdLibraryPath: "SECRETS_STORE_APP_LD_LIBRARY_PATH",
} as const;

/** The tests-only settings. The webhook removes them from every container it mutates: a Pod
 * that set the poll minimum itself would poll the shared store faster than the annotation's
 * floor allows. (An envFrom source the webhook cannot see can still bring them; the store's
 * own rate limits are the bound there, docs/inject.md.) */
export const TEST_ONLY_ENV: readonly string[] = [
  SETTINGS_ENV.testPollMinimum,
  SETTINGS_ENV.terminationLog,
  SETTINGS_ENV.testProcRoot,
];
