/** copy-self as the init container runs it, and the copied injector started as the webhook
 * starts it, inside a root filesystem that holds only busybox-static (no glibc, no loader),
 * against the real OpenBao. Mount namespaces (unshare) stand in for the container runtime. */
import { assert, assertEquals, assertStringIncludes } from "./harness/assert.ts";
import { testEnv } from "./harness/env.ts";
import { GUIDE } from "./harness/store_setup.ts";
import { Suite } from "./harness/suite.ts";
import { interpreterSlot } from "../lib/copy/elf.ts";

const env = testEnv();
const BASE = `${env.dir}/copy-self`;
/** The product image's executable: world-readable, as in the image, outside the run's private
 * folder (which only root may enter). */
let IMAGE = "";
let BIN = "";
const ROOTFS = `${BASE}/rootfs`;
const SHARED = `${ROOTFS}/run/secrets-store`; // the emptyDir, as both containers see it

/** The image folder and the busybox root filesystem, made by the first test that runs; the
 * image folder (outside the run's folder) is removed after the last. */
const suite = new Suite<void>({
  setUp: async () => {
    IMAGE = await Deno.makeTempDir({ prefix: "secrets-store-image-" });
    BIN = `${IMAGE}/secrets-store`;
    // The run's one compiled executable (tests/run.ts), placed where an image holds it.
    await Deno.mkdir(BIN.slice(0, BIN.lastIndexOf("/")), { recursive: true });
    await Deno.copyFile(testEnv().binary, BIN);
    await Deno.chmod(IMAGE, 0o755);
    await Deno.chmod(BIN, 0o755);
    for (const d of ["bin", "proc", "tmp", "run/secrets-store"]) {
      await Deno.mkdir(`${ROOTFS}/${d}`, { recursive: true });
    }
    await Deno.chmod(SHARED, 0o777); // an emptyDir is writable by any user
    await Deno.copyFile("/usr/bin/busybox", `${ROOTFS}/bin/busybox`);
    await Deno.chmod(`${ROOTFS}/bin/busybox`, 0o755);
    for (const a of ["sh", "env", "cat"]) await Deno.symlink("busybox", `${ROOTFS}/bin/${a}`);
  },
  tearDown: async () => {
    await Deno.remove(IMAGE, { recursive: true });
  },
  onUnload: () => {
    if (IMAGE) Deno.removeSync(IMAGE, { recursive: true });
  },
});
const setUp = () => suite.ready();

suite.test("copy-self writes the injector, its loader and libraries, mode 0555, as a non-root user", async () => {
  await setUp();
  const r = await new Deno.Command("unshare", {
    args: [
      "-m",
      "sh",
      "-c",
      'mount -t tmpfs none /run && mkdir /run/secrets-store && mount --bind "$0" /run/secrets-store && exec setpriv --reuid 65532 --regid 65532 --clear-groups "$1" copy-self /run/secrets-store',
      SHARED,
      BIN,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(r.code, 0, new TextDecoder().decode(r.stderr));
  assertStringIncludes(new TextDecoder().decode(r.stderr), "copy-self:");
  for (const f of ["secrets-store", "ld.so", "lib/libc.so.6"]) {
    const st = await Deno.stat(`${SHARED}/${f}`);
    assertEquals(st.mode! & 0o777, 0o555, f);
    assertEquals(st.uid, 65532, f);
  }
  assertEquals(
    interpreterSlot(await Deno.readFile(`${SHARED}/secrets-store`)).path,
    "/run/secrets-store/ld.so",
  );
  const again = await new Deno.Command("unshare", {
    args: [
      "-m",
      "sh",
      "-c",
      'mount -t tmpfs none /run && mkdir /run/secrets-store && mount --bind "$0" /run/secrets-store && exec "$1" copy-self /run/secrets-store',
      SHARED,
      BIN,
    ],
    stderr: "piped",
  }).output();
  assertStringIncludes(new TextDecoder().decode(again.stderr), "copy-self: 0 file(s)");
});

suite.test("the copied injector runs in a busybox-only image: gets its secrets from OpenBao and execs busybox sh", async () => {
  await setUp();
  await Deno.writeTextFile(
    `${ROOTFS}/tmp/token`,
    await env.kube.tokenFor(GUIDE.namespace, GUIDE.serviceAccount),
  );
  await Deno.copyFile(env.bao.caFile, `${ROOTFS}/tmp/ca.pem`);
  assert(
    !(await Deno.stat(`${ROOTFS}/lib`).then(() => true, () => false)),
    "the image must have no /lib",
  );
  const r = await new Deno.Command("unshare", {
    args: [
      "-m",
      "sh",
      "-c",
      'mount -t proc proc "$0/proc" && exec chroot "$0" /bin/env -i "$@"',
      ROOTFS,
      "PATH=/bin",
      "LD_LIBRARY_PATH=/run/secrets-store/lib",
      "SECRETS_STORE_APP_LD_LIBRARY_PATH=",
      `SECRETS_STORE_ADDR=${env.bao.address}`,
      `SECRETS_STORE_ROLE=${GUIDE.role}`,
      "SECRETS_STORE_CA_FILE=/tmp/ca.pem",
      "SECRETS_STORE_TOKEN_FILE=/tmp/token",
      "DB_PASS=secrets-store:demo-kv/data/myapp-secret#DB_PASS",
      "/run/secrets-store/secrets-store",
      "inject",
      "--",
      "sh",
      "-c",
      "env | sort",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const out = new TextDecoder().decode(r.stdout);
  assertEquals(r.code, 0, new TextDecoder().decode(r.stderr));
  assertStringIncludes(out, "DB_PASS=secret-password");
  assert(!out.includes("SECRETS_STORE_"), "the injector's settings must be gone");
  assert(!out.includes("LD_LIBRARY_PATH"), "the app's own (absent) LD_LIBRARY_PATH is restored");
});
