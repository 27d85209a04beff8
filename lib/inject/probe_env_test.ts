import { assertEquals } from "../../tests/harness/assert.ts";
import { parseEnviron, probeValues } from "./probe_env.ts";
import { ENVIRON_LIMIT } from "./proc_read.ts";
import type { PathImport } from "../template/env_from_path.ts";
import type { StorePath } from "../config/store_path.ts";

const enc = (vars: Record<string, string>) =>
  new TextEncoder().encode(Object.entries(vars).map(([k, v]) => `${k}=${v}\0`).join(""));
const PROBE = {
  PATH: "/bin",
  DB_PASS: "secrets-store:demo-kv/data/app#DB_PASS",
  DB_USER: "secrets-store:demo-kv/data/app#DB_USER",
};
const APP = { PATH: "/usr/bin", DB_PASS: "pass", DB_USER: "user", OTHER: "x" };
/** PID 1 as a watch mode's supervisor: the container's environment, settings included. */
const SUPERVISOR = {
  ...PROBE,
  SECRETS_STORE_ADDR: "https://s",
  SECRETS_STORE_RESTART_ON_SECRET_CHANGE: "watch-for-data",
};

interface FakeProcess {
  environ?: Uint8Array | Record<string, string>;
  children?: string | undefined;
  status?: { ppid: number; uid: number };
  mnt?: string;
}

/** A stand-in for /proc (SECRETS_STORE_TEST_PROC_ROOT): the files probe_env.ts reads. */
async function fakeProc(procs: Record<number, FakeProcess>): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "probe-proc-" });
  for (const [pid, p] of Object.entries(procs)) {
    await Deno.mkdir(`${root}/${pid}/ns`, { recursive: true });
    if (p.environ) {
      const bytes = p.environ instanceof Uint8Array ? p.environ : enc(p.environ);
      await Deno.writeFile(`${root}/${pid}/environ`, bytes);
    }
    if (p.children !== undefined) {
      await Deno.mkdir(`${root}/${pid}/task/${pid}`, { recursive: true });
      await Deno.writeTextFile(`${root}/${pid}/task/${pid}/children`, p.children);
    }
    const s = p.status ?? { ppid: 0, uid: 1000 };
    const uid = `${s.uid}\t${s.uid}\t${s.uid}\t${s.uid}`;
    await Deno.writeTextFile(`${root}/${pid}/status`, `Name:\tx\nPPid:\t${s.ppid}\nUid:\t${uid}\n`);
    await Deno.symlink(p.mnt ?? "mnt:[4026532001]", `${root}/${pid}/ns/mnt`);
  }
  return root;
}

/** probeValues against a fake /proc, which is removed after. */
async function decide(
  procs: Record<number, FakeProcess>,
  probe: Record<string, string> = PROBE,
  imports: PathImport[] = [],
) {
  const root = await fakeProc(procs);
  try {
    return await probeValues(probe, imports, root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

const why = (r: Awaited<ReturnType<typeof probeValues>>) => "fallback" in r ? r.fallback : r.from;

Deno.test("the app's values replace the probe's templates; its other variables stay the probe's", async () => {
  assertEquals(await decide({ 1: { environ: APP } }), {
    env: { PATH: "/bin", DB_PASS: "pass", DB_USER: "user" },
    taken: 2,
    from: "PID 1",
  });
});

Deno.test("every case that cannot show PID 1's values are the app's falls back, naming why", async () => {
  const imports: PathImport[] = [{ path: "demo-kv/data/app" as StorePath }];
  const cases: Array<[string, Awaited<ReturnType<typeof probeValues>>]> = [
    ["env-from-path", await decide({ 1: { environ: APP } }, PROBE, imports)],
    ["unreadable", await decide({})],
    ["too large", await decide({ 1: { environ: new Uint8Array(ENVIRON_LIMIT + 1) } })],
    ["not utf-8", await decide({ 1: { environ: new Uint8Array([0x41, 0x3d, 0xff, 0]) } })],
    // An injector that has not exec'd yet.
    ["injector", await decide({ 1: { environ: { ...PROBE, SECRETS_STORE_ADDR: "https://s" } } })],
    ["missing", await decide({ 1: { environ: { DB_PASS: "pass" } } })],
    ["template", await decide({ 1: { environ: { ...APP, DB_USER: PROBE.DB_USER } } })],
  ];
  assertEquals(cases.map(([c, r]) => [c, why(r)]), [
    ["env-from-path", "env-from-path is set"],
    ["unreadable", "the environment of PID 1 is not readable by the probe's user"],
    ["too large", `the environment of PID 1 is over ${ENVIRON_LIMIT} bytes`],
    ["not utf-8", "the environment of PID 1 is not valid UTF-8"],
    [
      "injector",
      "PID 1 is an injector, not the app (it holds SECRETS_STORE_ADDR): no watch mode, so it has not started the app yet",
    ],
    ["missing", "PID 1 has no variable DB_USER"],
    ["template", "PID 1's variable DB_USER is a template"],
  ]);
  // No reason carries a value of the app's.
  for (const [, r] of cases) assertEquals(JSON.stringify(r).includes('pass"'), false);
});

Deno.test("under a watch mode's supervisor at PID 1 the probe takes its one child's values", async () => {
  const got = await decide({
    1: { environ: SUPERVISOR, children: "57 ", status: { ppid: 0, uid: 1000 } },
    57: { environ: APP, status: { ppid: 1, uid: 1000 } },
  });
  assertEquals(got, {
    env: { PATH: "/bin", DB_PASS: "pass", DB_USER: "user" },
    taken: 2,
    from: "PID 57",
  });
  // watch-for-lease is a watch mode too.
  const lease = { ...SUPERVISOR, SECRETS_STORE_RESTART_ON_SECRET_CHANGE: "watch-for-lease" };
  assertEquals(
    why(
      await decide({
        1: { environ: lease, children: "57 " },
        57: { environ: APP, status: { ppid: 1, uid: 1000 } },
      }),
    ),
    "PID 57",
  );
});

Deno.test("a supervisor's child that cannot be shown to be the app falls back, naming why", async () => {
  const app = { environ: APP, status: { ppid: 1, uid: 1000 } };
  const sup = (extra: Partial<FakeProcess> = {}) => ({
    environ: SUPERVISOR,
    children: "57 ",
    ...extra,
  });
  const cases: Array<[string, Record<number, FakeProcess>]> = [
    ["other templates", {
      1: sup({ environ: { ...SUPERVISOR, DB_USER: "secrets-store:x/data/y#Z" } }),
      57: app,
    }],
    ["no children file", { 1: sup({ children: undefined }), 57: app }],
    ["not started or ended", { 1: sup({ children: "" }) }],
    ["an adopted orphan beside it", { 1: sup({ children: "57 58 " }), 57: app, 58: app }],
    ["children junk", { 1: sup({ children: "57 x" }), 57: app }],
    ["gone", { 1: sup() }],
    ["reused pid", { 1: sup(), 57: { ...app, status: { ppid: 3, uid: 1000 } } }],
    ["other user", { 1: sup(), 57: { ...app, status: { ppid: 1, uid: 0 } } }],
    ["other mount namespace", { 1: sup(), 57: { ...app, mnt: "mnt:[4026532999]" } }],
    // A second injector (a probe run's, or one the app started) is no app.
    ["an injector", { 1: sup(), 57: { ...app, environ: SUPERVISOR } }],
    ["template", { 1: sup(), 57: { ...app, environ: { ...APP, DB_USER: PROBE.DB_USER } } }],
    ["missing", { 1: sup(), 57: { ...app, environ: { DB_PASS: "pass" } } }],
  ];
  const got: Array<[string, string]> = [];
  for (const [c, procs] of cases) got.push([c, why(await decide(procs))]);
  assertEquals(got, [
    [
      "other templates",
      "PID 1 is an injector, not the app (it holds SECRETS_STORE_ADDR): its DB_USER is not the probe's template",
    ],
    ["no children file", "the children of PID 1 (the supervisor) cannot be listed"],
    ["not started or ended", "PID 1 (the supervisor) has 0 children, not just the app"],
    ["an adopted orphan beside it", "PID 1 (the supervisor) has 2 children, not just the app"],
    ["children junk", "the children of PID 1 (the supervisor) cannot be listed"],
    ["gone", "the environment of PID 57 is not readable by the probe's user"],
    ["reused pid", "PID 57 is no longer the child of PID 1"],
    ["other user", "PID 57 does not run as PID 1's user"],
    ["other mount namespace", "PID 57 is not in PID 1's mount namespace"],
    ["an injector", "PID 57 holds SECRETS_STORE_ADDR: not the app"],
    ["template", "PID 57's variable DB_USER is a template"],
    ["missing", "PID 57 has no variable DB_USER"],
  ]);
});

Deno.test("environ parsing: values with '=' kept whole, a repeated name keeps its first, junk skipped", () => {
  const bytes = new TextEncoder().encode("A=x=y\0B=1\0B=2\0=nameless\0noequals\0C=\0");
  assertEquals(parseEnviron(bytes), new Map([["A", "x=y"], ["B", "1"], ["C", ""]]));
});

Deno.test("a variable named like an Object member is looked up in the app's variables only", async () => {
  const probe = { constructor: "secrets-store:demo-kv/data/app#X" };
  assertEquals(
    await decide({ 1: { environ: { __proto__: "x" } as Record<string, string> } }, probe),
    {
      fallback: "PID 1 has no variable constructor",
    },
  );
  const bytes = new TextEncoder().encode("constructor=v\0__proto__=p\0");
  assertEquals(await decide({ 1: { environ: bytes } }, probe), {
    env: { constructor: "v" },
    taken: 1,
    from: "PID 1",
  });
});

Deno.test("a template variable named __proto__ gets the app's value as an own variable", async () => {
  const probe = Object.fromEntries([["__proto__", "secrets-store:demo-kv/data/app#X"]]);
  const got = await decide({ 1: { environ: new TextEncoder().encode("__proto__=v\0") } }, probe);
  assertEquals("env" in got && Object.entries(got.env), [["__proto__", "v"]]);
});

Deno.test("a write reference and secrets-store:login take the app's values too, so a probe writes nothing", async () => {
  const probe = {
    CERT: '>>secrets-store:pki/issue/app#certificate#{"common_name":"a.example.com"}',
    TOKEN: "secrets-store:login",
  };
  const app = enc({ CERT: "-----BEGIN CERT", TOKEN: "s.app" });
  assertEquals(await decide({ 1: { environ: app } }, probe), {
    env: { CERT: "-----BEGIN CERT", TOKEN: "s.app" },
    taken: 2,
    from: "PID 1",
  });
  // PID 1 still holding the write reference is no app: the probe asks the store.
  const unresolved = enc({ CERT: probe.CERT, TOKEN: "s.app" });
  assertEquals(await decide({ 1: { environ: unresolved } }, probe), {
    fallback: "PID 1's variable CERT is a template",
  });
});
