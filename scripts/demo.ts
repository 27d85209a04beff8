/** The README's main job: the injector resolving the usage guide's examples locally, from a
 * store file instead of a server, then exec'ing the app. No cluster, no store server. */
import { ROOT } from "../tests/harness/process.ts";

const STORE = "examples/local-store.yaml";

async function show(title: string, env: Record<string, string>, args: string[]) {
  const shown = Object.entries(env).map(([k, v]) => `${k}=${JSON.stringify(v)} `).join("");
  const quoted = args.map((
    a,
  ) => (/^[\w./:=#,-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`));
  console.log(`\n# ${title}\n$ ${shown}secrets-store ${quoted.join(" ")}`);
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--quiet", `${ROOT}/main.ts`, ...args],
    cwd: ROOT,
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", ...env },
    stdin: "null",
  }).spawn().status;
  console.log(`(exit ${code})`);
}

const printenv = ["sh", "-c", "env | grep -E '^(DB_|LOG_|PASSWORD|OLD)' | sort"];

await show("which build this is", {}, ["version"]);
await show(
  "myapp2: templates in env values; --dry-run shows the plan, values masked",
  {
    DB_USER: "secrets-store:demo-kv/data/myapp-secret#DB_USER",
    DB_PASS: "secrets-store:demo-kv/data/myapp-secret#DB_PASS",
  },
  ["inject", "--store-file", STORE, "--dry-run", "--", ...printenv],
);
await show(
  "myapp2 for real: the injector execs the app with the resolved environment",
  {
    DB_USER: "secrets-store:demo-kv/data/myapp-secret#DB_USER",
    DB_PASS: "secrets-store:demo-kv/data/myapp-secret#DB_PASS",
    OLD: "secrets-store:demo-kv/data/myapp-secret#DB_PASS#4",
  },
  ["inject", "--store-file", STORE, "--", ...printenv],
);
await show(
  "myapp1: env-from-path imports every key; the later path wins (DB_USER)",
  { SECRETS_STORE_ENV_FROM_PATH: "demo-kv/data/common-secret,demo-kv/data/myapp-secret" },
  ["inject", "--store-file", STORE, "--", ...printenv],
);
await show(
  "a key that does not exist: the app is not started, and the error names path and key",
  { PASSWORD: "secrets-store:demo-kv/data/myapp-secret#DB_PASSWORD" },
  ["inject", "--store-file", STORE, "--", ...printenv],
);
await show(
  "the same with ignore-missing-secrets: the app starts without the variable",
  {
    PASSWORD: "secrets-store:demo-kv/data/myapp-secret#DB_PASSWORD",
    SECRETS_STORE_IGNORE_MISSING_SECRETS: "true",
  },
  [
    "inject",
    "--store-file",
    STORE,
    "--",
    "sh",
    "-c",
    'echo "app started; PASSWORD is ${PASSWORD:-unset}"',
  ],
);
