/** A real PostgreSQL server (Debian's postgresql) on 127.0.0.1, fresh in a folder of its own,
 * for OpenBao's database engine: initdb, then `postgres` in the foreground under
 * spawnServer, so the test file's unload kills it too. PostgreSQL refuses to run as root, and
 * the tests run as root: the server then runs as the package's `postgres` user, in a folder
 * that user owns (outside the run's folder, which only root may enter). */
import type { TestEnv } from "./env.ts";
import { freePort, spawnServer, waitUntil } from "./process.ts";

export interface Postgres {
  host: string;
  port: number;
  /** The superuser OpenBao manages roles with. */
  admin: { username: string; password: string };
  /** The folder of the data directory and the socket, removed by stop(). */
  dir: string;
  logFile: string;
  /** Runs one statement as `as` (the admin by default) through psql; never throws for a
   * refused login or statement, so a test can assert on it. */
  psql(sql: string, as?: { username: string; password: string }): Promise<PsqlResult>;
  /** Whether a role of that name exists (pg_roles, asked as the admin). */
  roleExists(name: string): Promise<boolean>;
  stop(): Promise<void>;
  /** For a file's unload: kills the server and removes the folder, synchronously. */
  stopSync(): void;
}

export interface PsqlResult {
  ok: boolean;
  out: string;
  err: string;
}

/** The newest installed server's programs (scripts/peers/install-postgres.sh). */
export function postgresBin(): string {
  let versions: number[] = [];
  try {
    versions = [...Deno.readDirSync("/usr/lib/postgresql")].map((e) => Number(e.name))
      .filter((v) => Number.isInteger(v)).sort((a, b) => b - a);
  } catch { /* not installed */ }
  for (const v of versions) {
    const bin = `/usr/lib/postgresql/${v}/bin`;
    try {
      Deno.statSync(`${bin}/initdb`);
      return bin;
    } catch { /* a version without the server */ }
  }
  throw new Error(
    "PostgreSQL is not installed: run scripts/peers/install-postgres.sh (or scripts/test.sh) first",
  );
}

export async function startPostgres(): Promise<Postgres> {
  const bin = postgresBin();
  const dir = await Deno.makeTempDir({ prefix: "secrets-store-pg-" });
  const owner = Deno.uid() === 0 ? await userIds("postgres") : undefined;
  /** Runs a PostgreSQL program as the server's owner. */
  const as = (program: string, args: string[]) =>
    owner
      ? {
        cmd: "setpriv",
        args: [`--reuid=${owner.uid}`, `--regid=${owner.gid}`, "--clear-groups", program, ...args],
      }
      : { cmd: program, args };
  const admin = { username: "admin", password: "pg-" + crypto.randomUUID() };
  const pwfile = `${dir}/admin-password`;
  await Deno.writeTextFile(pwfile, admin.password + "\n");
  if (owner) {
    for (const p of [dir, pwfile]) await Deno.chown(p, owner.uid, owner.gid);
  }
  const init = as(`${bin}/initdb`, [
    "-D",
    `${dir}/data`,
    "-U",
    admin.username,
    `--pwfile=${pwfile}`,
    "--auth=scram-sha-256",
    "-E",
    "UTF8",
    "--no-sync",
    "--no-instructions",
  ]);
  const out = await new Deno.Command(init.cmd, {
    args: init.args,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (!out.success) {
    await Deno.remove(dir, { recursive: true });
    throw new Error(`initdb failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  const port = freePort();
  const host = "127.0.0.1";
  const run = as(`${bin}/postgres`, [
    "-D",
    `${dir}/data`,
    "-p",
    String(port),
    "-k",
    dir,
    "-c",
    `listen_addresses=${host}`,
    "-c",
    "fsync=off",
  ]);
  const server = spawnServer("postgres", dir, run.cmd, run.args);
  const psql = async (sql: string, who = admin): Promise<PsqlResult> => {
    const r = await new Deno.Command(`${bin}/psql`, {
      args: ["-h", host, "-p", String(port), "-U", who.username, "-d", "postgres", "-Atc", sql],
      env: { PGPASSWORD: who.password, PGCONNECT_TIMEOUT: "5" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder();
    return { ok: r.success, out: text.decode(r.stdout).trim(), err: text.decode(r.stderr) };
  };
  const stop = async () => {
    // A fast shutdown: the default (smart) waits for OpenBao's pooled connections to close.
    const fast = as(`${bin}/pg_ctl`, ["-D", `${dir}/data`, "stop", "-m", "fast", "-w", "-t", "10"]);
    await new Deno.Command(fast.cmd, { args: fast.args, stdout: "null", stderr: "null" }).output();
    await server.stop();
    await Deno.remove(dir, { recursive: true });
  };
  try {
    await waitUntil("PostgreSQL", async () => (await psql("select 1")).ok, 30_000, server.logFile);
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    host,
    port,
    admin,
    dir,
    logFile: server.logFile,
    psql,
    async roleExists(name) {
      if (!/^[\w-]+$/.test(name)) throw new Error(`not a role name: ${JSON.stringify(name)}`);
      const r = await psql(`select count(*) from pg_roles where rolname = '${name}'`);
      if (!r.ok) throw new Error(`cannot list the roles: ${r.err}`);
      return r.out === "1";
    },
    stop,
    stopSync() {
      // process.ts's own unload listener kills the server; the folder is left to remove.
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch { /* gone */ }
    },
  };
}

async function userIds(name: string): Promise<{ uid: number; gid: number }> {
  const passwd = await Deno.readTextFile("/etc/passwd");
  const fields = passwd.split("\n").map((l) => l.split(":")).find((f) => f[0] === name);
  if (!fields) throw new Error(`no user ${name}: the postgresql package creates it`);
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

type BaoApi = TestEnv["bao"]["api"];

/** OpenBao's database engine at `mount`, its built-in postgresql plugin managing roles in
 * `pg`, and a policy `policy` that reads its credentials and may revoke their leases
 * (renewal is in the store's default policy; revocation is not). */
export async function mountDatabaseEngine(
  api: BaoApi,
  mount: string,
  pg: Postgres,
  policy: string,
): Promise<void> {
  await api("POST", `sys/mounts/${mount}`, { type: "database" });
  await api("PUT", `${mount}/config/pg`, {
    plugin_name: "postgresql-database-plugin",
    connection_url:
      `postgresql://{{username}}:{{password}}@${pg.host}:${pg.port}/postgres?sslmode=disable`,
    username: pg.admin.username,
    password: pg.admin.password,
    allowed_roles: "*",
  });
  await api("PUT", `sys/policies/acl/${policy}`, {
    policy: `path "${mount}/creds/*" { capabilities = ["read"] }\n` +
      `path "sys/leases/revoke" { capabilities = ["update"] }\n`,
  });
}

/** A role of that engine: each read creates a PostgreSQL role with a lease of `defaultTtl`,
 * renewable up to `maxTtl`. PostgreSQL itself refuses the role past its lease (VALID UNTIL,
 * moved on at each renewal), so "the credentials stop working" is PostgreSQL's word. */
export async function databaseRole(
  api: BaoApi,
  mount: string,
  name: string,
  ttl: { defaultTtl: string; maxTtl?: string },
): Promise<void> {
  await api("PUT", `${mount}/roles/${name}`, {
    db_name: "pg",
    creation_statements: [
      `CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`,
    ],
    default_ttl: ttl.defaultTtl,
    ...(ttl.maxTtl ? { max_ttl: ttl.maxTtl } : {}),
  });
}
