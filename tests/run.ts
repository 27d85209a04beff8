/** `deno task test`: starts a fresh OpenBao (TLS) and etcd + kube-apiserver, prepares them
 * as the usage guide does, runs every test file against them, then stops them.
 * Arguments are passed to `deno test` (e.g. a file or `--filter`); TEST_DEADLINE_S bounds
 * the run (harness/watchdog.ts). */
import { ENV_VAR, type TestEnvFile } from "./harness/env.ts";
import { startKube } from "./harness/kube.ts";
import { startOpenBao } from "./harness/openbao.ts";
import { ROOT, runOk } from "./harness/process.ts";
import { prepareGuideStore } from "./harness/store_setup.ts";
import { FILTER_ENV, filterOf } from "./harness/suite.ts";
import { runWithDeadline } from "./harness/watchdog.ts";

// The whole run, e2e included, stays under this; past it the test still running is named.
const deadlineMs = Number(Deno.env.get("TEST_DEADLINE_S") ?? 3600) * 1000;

const dir = await Deno.makeTempDir({ prefix: "secrets-store-test-" });
const started = performance.now();
// The executable that ships (scripts/compile.sh), built once: the CSI, compiled and copy-self
// tests run it as it is, not the program under `deno run`.
const binary = `${dir}/bin/secrets-store`;
const compiled = runOk("bash", [`${ROOT}/scripts/compile.sh`, binary]);
compiled.catch(() => {}); // awaited below, once the servers can be stopped
const [bao, kube] = await Promise.all([startOpenBao(dir), startKube(dir)]);
let code = 1;
try {
  await compiled;
  await prepareGuideStore(bao, kube);
  console.error(
    `test servers ready in ${
      Math.round(performance.now() - started)
    } ms: OpenBao ${bao.address}, kube-apiserver ${kube.url}`,
  );
  const env: TestEnvFile = {
    dir,
    binary,
    bao: {
      address: bao.address,
      caCert: bao.caCert,
      caFile: bao.caFile,
      rootToken: bao.rootToken,
      auditLog: bao.auditLog,
    },
    kube: {
      url: kube.url,
      caCert: kube.caCert,
      caFile: kube.caFile,
      adminToken: kube.adminToken,
      webhookToken: kube.webhookToken,
      csiToken: kube.csiToken,
      auditLog: kube.auditLog,
    },
  };
  await Deno.writeTextFile(`${dir}/env.json`, JSON.stringify(env));
  const junit = `${dir}/junit.xml`;
  const run = await runWithDeadline(
    ["test", "--allow-all", `--junit-path=${junit}`, ...Deno.args],
    {
      cwd: ROOT,
      // The filter too, so each file's teardown runs after the last test it selects.
      env: { [ENV_VAR]: `${dir}/env.json`, [FILTER_ENV]: filterOf(Deno.args) ?? "" },
      deadlineMs,
    },
  );
  code = run.code;
  console.log(run.overdue ? `tests: stopped at the deadline in ${run.overdue}` : summary(junit));
} finally {
  await Promise.all([bao.stop(), kube.stop()]);
  if (code === 0) await Deno.remove(dir, { recursive: true });
  else console.error(`server logs kept in ${dir}`);
}
Deno.exit(code);

/** The plain closing line CI reads: "tests: N passed, N failed". */
function summary(junitFile: string): string {
  let xml = "";
  try {
    xml = Deno.readTextFileSync(junitFile);
  } catch {
    return "tests: 0 passed, 1 failed (no test report was written)";
  }
  const cases = xml.match(/<testcase\b[^>]*?(\/>|>[\s\S]*?<\/testcase>)/g) ?? [];
  const failed = cases.filter((c) => /<failure|<error/.test(c)).length;
  const skipped = cases.filter((c) => /<skipped/.test(c)).length;
  const passed = cases.length - failed - skipped;
  return `tests: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`;
}
