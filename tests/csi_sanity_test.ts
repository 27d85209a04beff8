/** The upstream CSI conformance suite (csi-sanity, pinned in tools/peers/csi-sanity) against
 * `secrets-store csi serve`. For a node-only driver of ephemeral volumes it checks the gRPC
 * surface: identity, capabilities, node info and argument validation; publishing real
 * secrets is covered by tests/csi_test.ts. */
import { assert, assertEquals } from "./harness/assert.ts";
import { startCsi } from "./harness/csi.ts";
import { testEnv } from "./harness/env.ts";
import { peerBinary } from "./harness/process.ts";

const env = testEnv();

Deno.test("csi-sanity passes against csi serve", async () => {
  const dir = `${env.dir}/csi-sanity`;
  // csi-sanity's mount and staging folders play the kubelet's: its targets lie under them.
  await Deno.mkdir(`${dir}/sanity`, { recursive: true });
  const driver = await startCsi({
    dir,
    kubeletDir: `${dir}/sanity`,
    kube: { url: env.kube.url, caFile: env.kube.caFile, token: env.kube.csiToken },
    binary: env.binary,
    settings: `connectionConfiguration: Manual\nconnection: {url: "${env.bao.address}"}\n`,
  });
  try {
    const out = await new Deno.Command(peerBinary("csi-sanity"), {
      args: [
        `--csi.endpoint=unix://${driver.socket}`,
        `--csi.mountdir=${dir}/sanity/mnt`,
        `--csi.stagingdir=${dir}/sanity/stg`,
        // Controller groups do not apply to a node-only driver; "should remove target path"
        // needs CreateVolume, which only a controller serves.
        "--ginkgo.skip=Controller Server",
        "--ginkgo.skip=should remove target path",
        `--ginkgo.junit-report=${dir}/sanity/report.xml`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assertEquals(out.code, 0, text.slice(-3000));
    const report = await Deno.readTextFile(`${dir}/sanity/report.xml`);
    const suite = report.match(/<testsuite [^>]*>/)?.[0];
    assert(suite, "no testsuite in the junit report");
    const attr = (name: string) => Number(suite.match(new RegExp(`\\b${name}="(\\d+)"`))?.[1] ?? 0);
    assertEquals([attr("failures"), attr("errors")], [0, 0]);
    const ran = attr("tests") - attr("skipped") - attr("disabled");
    assert(ran >= 10, `only ${ran} specs ran`);
  } finally {
    await driver.stop();
  }
});
