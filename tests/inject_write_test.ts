/** Write references (`>>secrets-store:<path>#<key>[#<json body>]`) and `secrets-store:login`
 * against the real OpenBao: its built-in PKI engine issues the certificates, and its audit log
 * counts what the injector sent. */
import { assert, assertEquals, assertStringIncludes } from "./harness/assert.ts";
import { testEnv } from "./harness/env.ts";
import { ROOT, runOk } from "./harness/process.ts";
import { proxyInFront } from "./harness/path_proxy.ts";
import { baoApi, GUIDE } from "./harness/store_setup.ts";
import { injectorSettings, writeGuideToken } from "./harness/injector_env.ts";

const env = testEnv();
const tokenFile = `${env.dir}/write-sa-token`;
const PATH = "/usr/local/bin:/usr/bin:/bin";
const ROLE = "write-test-role";
const ISSUE = "write-pki/issue/app";
const CERT = `>>secrets-store:${ISSUE}#certificate#{"common_name":"app.example.com","ttl":"1h"}`;
// The same write: only the body's spacing differs.
const KEY =
  `>>secrets-store:${ISSUE}#private_key#{ "common_name": "app.example.com", "ttl": "1h" }`;

let ready: Promise<void> | undefined;
/** OpenBao's PKI engine with a root CA and a role for *.example.com, and a store role that
 * may issue from it and write demo-kv/data/write-*. */
function setUp(): Promise<void> {
  return ready ??= (async () => {
    await env.bao.api("POST", "sys/mounts/write-pki", {
      type: "pki",
      config: { max_lease_ttl: "24h" },
    });
    await env.bao.api("POST", "write-pki/root/generate/internal", {
      common_name: "write-test-ca",
      ttl: "24h",
    });
    await env.bao.api("POST", "write-pki/roles/app", {
      allowed_domains: "example.com",
      allow_subdomains: true,
      max_ttl: "1h",
    });
    await env.bao.api("PUT", "sys/policies/acl/write-test", {
      policy: `path "${ISSUE}" { capabilities = ["update"] }\n` +
        'path "demo-kv/data/write-*" { capabilities = ["read", "create", "update"] }\n',
    });
    await env.bao.api("PUT", `auth/kubernetes_local/role/${ROLE}`, {
      bound_service_account_names: GUIDE.serviceAccount,
      bound_service_account_namespaces: GUIDE.namespace,
      policies: "write-test",
      ttl: "10m",
    });
    await env.bao.api("PUT", "demo-kv/data/write-kv", { data: { PASS: "kv-pass" } });
    await writeGuideToken(env, tokenFile);
  })();
}

const settings = (extra: Record<string, string> = {}) =>
  injectorSettings(env, ROLE, tokenFile, extra);

const INJECT = ["run", "--allow-all", "--quiet", `${ROOT}/main.ts`, "inject"];

/** Runs `inject [flags] -- <command>` under the Deno CLI with exactly `vars` (plus PATH). */
async function inject(vars: Record<string, string>, command: string[], flags: string[] = []) {
  await setUp();
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...INJECT, ...flags, "--", ...command],
    clearEnv: true,
    env: { PATH, ...vars },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

/** Requests in OpenBao's audit log as "<operation> <path>", from entry `from` on. */
async function audited(from = 0): Promise<string[]> {
  const lines = (await Deno.readTextFile(env.bao.auditLog)).trim().split("\n").slice(from);
  return lines.map((l) => JSON.parse(l)).filter((e) => e.type === "request")
    .map((e) => `${e.request.operation} ${e.request.path}`);
}

/** Where the audit log ends now, for `audited(mark)`. */
async function mark(): Promise<number> {
  return (await Deno.readTextFile(env.bao.auditLog)).trim().split("\n").length;
}

const writesTo = (requests: string[], path: string) =>
  requests.filter((r) => r === `update ${path}` || r === `create ${path}`).length;

/** The public key of a PEM certificate or private key, as openssl prints it. */
async function publicKey(pem: string, kind: "x509" | "pkey"): Promise<string> {
  const file = await Deno.makeTempFile({ dir: env.dir, suffix: ".pem" });
  await Deno.writeTextFile(file, pem);
  return await runOk(
    "openssl",
    kind === "x509" ? ["x509", "-noout", "-pubkey", "-in", file] : ["pkey", "-pubout", "-in", file],
  );
}

Deno.test("two variables taking certificate and private_key of one write reference make one write, and the key is the certificate's", async () => {
  await setUp();
  const from = await mark();
  const r = await inject({
    ...settings(),
    CERT,
    KEY,
    PASS: "secrets-store:demo-kv/data/write-kv#PASS",
  }, [
    "/bin/sh",
    "-c",
    'printf "%s" "$CERT" > "$0.crt"; printf "%s" "$KEY" > "$0.key"; echo "$PASS"',
    `${env.dir}/issued`,
  ]);
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.stdout, "kv-pass\n");
  const cert = await Deno.readTextFile(`${env.dir}/issued.crt`);
  const key = await Deno.readTextFile(`${env.dir}/issued.key`);
  assertStringIncludes(cert, "-----BEGIN CERTIFICATE-----");
  assertStringIncludes(key, "PRIVATE KEY-----");
  assertEquals(await publicKey(cert, "x509"), await publicKey(key, "pkey"));
  assertStringIncludes(
    await runOk("openssl", ["x509", "-noout", "-subject", "-in", `${env.dir}/issued.crt`]),
    "app.example.com",
  );
  assertEquals(writesTo(await audited(from), ISSUE), 1, "exactly one write for both variables");
  // Neither the key nor the certificate reaches the log.
  assert(!r.stderr.includes("PRIVATE KEY") && !r.stderr.includes("CERTIFICATE"), r.stderr);
});

Deno.test("a write whose answer is lost after the store issued it fails naming the variable and path, and is not sent again", async () => {
  await setUp();
  // The proxy is a stand-in for a gateway that forwards the write, then answers 502: the store
  // has issued a certificate the injector never saw.
  const px = await proxyInFront(env.bao, env.dir, "write-lose-proxy", true, {
    lose: (path) => path === `/v1/${ISSUE}`,
  });
  try {
    const from = await mark();
    const r = await inject(
      {
        ...settings({
          SECRETS_STORE_ADDR: `${px.origin}/vault`,
          SECRETS_STORE_CA_FILE: px.caFile!,
        }),
        CERT,
        KEY,
      },
      ["/bin/sh", "-c", "echo app started"],
    );
    assertEquals(r.code, 1, r.stderr);
    assert(!r.stdout.includes("app started"));
    assertStringIncludes(
      r.stderr,
      `CERT <- >>${ISSUE}#certificate: server error: Cannot write ${ISSUE} from ${px.origin}/vault: server error: upstream answer lost by the proxy (HTTP 502) (not retried: the store may have applied the write)`,
    );
    assertStringIncludes(r.stderr, `KEY <- >>${ISSUE}#private_key: server error`);
    assertEquals(px.seen.filter((s) => s === `POST /vault/v1/${ISSUE}`).length, 1);
    assertEquals(writesTo(await audited(from), ISSUE), 1, "the store saw the write once");
  } finally {
    await px.close();
  }
});

Deno.test("a write the store refuses fails naming the variable with the store's words, sent once", async () => {
  await setUp();
  const from = await mark();
  const r = await inject({
    ...settings(),
    CERT: `>>secrets-store:${ISSUE}#certificate#{"common_name":"evil.other.org"}`,
  }, ["/bin/sh", "-c", "echo app started"]);
  assertEquals(r.code, 1, r.stderr);
  assertStringIncludes(
    r.stderr,
    `CERT <- >>${ISSUE}#certificate: bad request: Cannot write ${ISSUE}`,
  );
  assertStringIncludes(r.stderr, "evil.other.org");
  assert(!r.stderr.includes("may have applied"), "a 400 is a refusal: nothing was issued");
  assertEquals(writesTo(await audited(from), ISSUE), 1);
});

Deno.test("a malformed JSON body is refused naming the variable before any store request, never quoted", async () => {
  await setUp();
  const from = await mark();
  const r = await inject({
    ...settings(),
    BAD: `>>secrets-store:${ISSUE}#certificate#{"common_name": must-not-leak}`,
    CERT,
  }, ["/bin/sh", "-c", "echo app started"]);
  assertEquals(r.code, 1, r.stderr);
  assertStringIncludes(
    r.stderr,
    `BAD <- (malformed template): Variable BAD: the JSON body of the write to ${ISSUE} is not valid JSON`,
  );
  assertStringIncludes(r.stderr, "(1 write reference(s) not sent, since the app could not start)");
  assert(!r.stderr.includes("must-not-leak"), r.stderr);
  assertEquals(await audited(from), [], "nothing, not even a login, was sent");
});

Deno.test("hostile write references are refused naming each variable, none reaches the store, and '#' or a reference in a body is literal", async () => {
  await setUp();
  const deep = "[".repeat(64) + "]".repeat(64);
  const hostile: Record<string, string> = {
    HUGE: `>>secrets-store:${ISSUE}#certificate#{"common_name":"${"a".repeat(100_000)}"}`,
    DEEP: `>>secrets-store:${ISSUE}#certificate#{"a":${deep}}`,
    ARRAY: `>>secrets-store:${ISSUE}#certificate#["app.example.com"]`,
    STRING: `>>secrets-store:${ISSUE}#certificate#"app.example.com"`,
    DOTDOT: '>>secrets-store:write-pki/issue/../../sys/mounts#k#{"type":"kv"}',
    ENCODED: '>>secrets-store:write-pki/issue/%2e%2e/%2e%2e/sys/mounts#k#{"type":"kv"}',
    SLASH: ">>secrets-store:write-pki%2Fissue%2Fapp#certificate",
    QUERY: ">>secrets-store:write-pki/issue/app?list=true#certificate",
  };
  const want: Record<string, string> = {
    HUGE: "over the limit of 16384",
    DEEP: "nests deeper than 16 levels",
    ARRAY: "must be a JSON object ({...}), not an array",
    STRING: "must be a JSON object ({...}), not a string",
    DOTDOT: 'segment ".." is not allowed',
    ENCODED: 'character "%" is not allowed',
    SLASH: 'character "%" is not allowed',
    QUERY: 'character "?" is not allowed',
  };
  const from = await mark();
  const refused = await inject({ ...settings(), ...hostile }, ["/bin/sh", "-c", "echo started"]);
  assertEquals(refused.code, 1, refused.stderr);
  for (const [name, why] of Object.entries(want)) {
    const line = refused.stderr.split("\n").find((l) => l.includes(`  ${name} <- `));
    assert(line, `${name} is not named:\n${refused.stderr}`);
    assertStringIncludes(line, `Variable ${name}: `);
    assertStringIncludes(line, why, name);
  }
  assertEquals(await audited(from), [], "nothing was sent");

  // Under ignore-missing-secrets the app starts without them, and a good write beside them
  // is sent with its body as written: "#" and "${secrets-store:...}" in it are plain text.
  const note = "a#b ${secrets-store:demo-kv/data/myapp-secret#DB_PASS}";
  const r = await inject({
    ...settings({ SECRETS_STORE_IGNORE_MISSING_SECRETS: "true" }),
    ...hostile,
    VERSION: `>>secrets-store:demo-kv/data/write-hash#version#${
      JSON.stringify({ data: { note } })
    }`,
  }, ["/usr/bin/env", "-0"]);
  assertEquals(r.code, 0, r.stderr);
  const app = Object.fromEntries(
    r.stdout.split("\0").filter((l) => l).map((
      l,
    ) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
  assertEquals(Object.keys(app).sort(), ["PATH", "VERSION"]);
  const stored = await baoApi(env.bao)("GET", "demo-kv/data/write-hash");
  assertEquals((stored.data as { data: { note: string } }).data.note, note);
  assertEquals(
    app.VERSION,
    String((stored.data as { metadata: { version: number } }).metadata.version),
  );
  const requests = await audited(from);
  assertEquals(requests.filter((q) => q.includes("sys/mounts") || q.includes("myapp-secret")), []);
  assertEquals(writesTo(requests, ISSUE), 0);
});

Deno.test("inject --dry-run says it would write and sends no write", async () => {
  await setUp();
  const from = await mark();
  const r = await inject(
    { ...settings(), CERT, KEY, PASS: "secrets-store:demo-kv/data/write-kv#PASS" },
    ["app"],
    [
      "--dry-run",
    ],
  );
  assertEquals(r.code, 0, r.stderr);
  assertStringIncludes(r.stdout, `>>${ISSUE}#certificate  would write; not sent in a dry run`);
  assertStringIncludes(r.stdout, `>>${ISSUE}#private_key  would write; not sent in a dry run`);
  assertStringIncludes(r.stdout, "1 distinct read(s), 2 write reference(s) not sent");
  assert(!r.stdout.includes("app.example.com"), "no body is shown");
  assertEquals(writesTo(await audited(from), ISSUE), 0);
});

Deno.test("an exec probe that takes the app's values sends no write; one that falls back sends it and says so", async () => {
  await setUp();
  const proc = `${env.dir}/write-proc`;
  await Deno.mkdir(`${proc}/1`, { recursive: true });
  const pid1 = (vars: Record<string, string>) =>
    Deno.writeTextFile(
      `${proc}/1/environ`,
      Object.entries(vars).map(([k, v]) => `${k}=${v}\0`).join(""),
    );
  const probe = () =>
    inject(
      { ...settings({ SECRETS_STORE_TEST_PROC_ROOT: proc }), CERT },
      ["/bin/sh", "-c", 'printf "%s" "$CERT" | head -c 27'],
      ["--probe"],
    );
  await pid1({ PATH, CERT: "-----BEGIN CERTIFICATE----- the app's own" });
  let from = await mark();
  const fast = await probe();
  assertEquals([fast.code, fast.stdout], [0, "-----BEGIN CERTIFICATE-----"], fast.stderr);
  assertEquals(await audited(from), [], "not one store request");

  // PID 1 still holding the reference (a watch mode's supervisor): the probe asks the store.
  await pid1({ PATH, CERT });
  from = await mark();
  const fallback = await probe();
  assertEquals(
    [fallback.code, fallback.stdout],
    [0, "-----BEGIN CERTIFICATE-----"],
    fallback.stderr,
  );
  assertEquals(writesTo(await audited(from), ISSUE), 1);
  assertStringIncludes(fallback.stderr, "it sent its write references again");
});

Deno.test("secrets-store:login is refused by default before any request; allowed, the app's token works and outlives the injector", async () => {
  await setUp();
  const from = await mark();
  const refused = await inject({ ...settings(), VAULT_TOKEN: "secrets-store:login" }, [
    "/bin/sh",
    "-c",
    "echo started",
  ]);
  assertEquals(refused.code, 1, refused.stderr);
  assertStringIncludes(
    refused.stderr,
    "VAULT_TOKEN <- secrets-store:login: it would give the app the injector's store token, which this installation does not allow (SECRETS_STORE_ALLOW_LOGIN_TOKEN is not true; chart value injector.allowLoginToken)",
  );
  assertEquals(await audited(from), [], "not even a login");

  const r = await inject(
    {
      ...settings({ SECRETS_STORE_ALLOW_LOGIN_TOKEN: "true" }),
      VAULT_TOKEN: "secrets-store:login",
      PASS: "secrets-store:demo-kv/data/write-kv#PASS",
    },
    ["/usr/bin/printenv", "VAULT_TOKEN", "PASS", "SECRETS_STORE_ALLOW_LOGIN_TOKEN"],
  );
  // printenv exits 1 for the setting it cannot find: the app never sees the switch.
  assertEquals(r.code, 1, r.stderr);
  const [token, pass] = r.stdout.trim().split("\n");
  assertEquals(pass, "kv-pass");
  assert(token && token.length > 10, r.stdout);
  assert(!r.stderr.includes(token), "the token is never logged");
  assertStringIncludes(
    r.stderr,
    "the store token is the app's now (secrets-store:login): it is not revoked",
  );
  // After the injector is gone, the app's token still works: it was not revoked.
  const client = Deno.createHttpClient({ caCerts: [env.bao.caCert] });
  const self = await fetch(`${env.bao.address}/v1/auth/token/lookup-self`, {
    headers: { "x-vault-token": token },
    client,
  });
  const body = await self.json();
  client.close();
  assertEquals(self.status, 200, JSON.stringify(body));
  const data = body.data as { meta: { role: string }; policies: string[] };
  assertEquals(data.meta.role, ROLE);
  assert(data.policies.includes("write-test"), JSON.stringify(data.policies));
  assertEquals((await audited(from)).filter((q) => q.endsWith("auth/token/revoke-self")).length, 0);
});
