/** The store-load model of docs/store-load.md checked against a run: 50 injector runs and 20
 * CSI volumes over 5 identities for 3 rotation periods, the compiled executable against the
 * real OpenBao and kube-apiserver, counted in OpenBao's audit log. Counts are not timings:
 * each must equal the model's prediction. */
import { assertEquals } from "./harness/assert.ts";
import { testEnv } from "./harness/env.ts";
import { LOAD, runStoreLoad } from "./harness/store_load.ts";

const env = testEnv();

Deno.test("the store sees exactly the requests the load model predicts, and no token of the run is left", async () => {
  const dir = `${env.dir}/store-load`;
  await Deno.mkdir(dir, { recursive: true });
  const r = await runStoreLoad({ bao: env.bao, kube: env.kube, binary: env.binary, dir });
  console.log(
    [
      "part | operation | predicted | measured",
      ...r.rows.map((x) => `${x.part} | ${x.operation} | ${x.predicted} | ${x.measured}`),
    ].join("\n"),
  );
  assertEquals(
    r.sweeps.filter((i) => i === LOAD.identities).length >= LOAD.sweeps,
    true,
    `sweeps: ${r.sweeps}`,
  );
  for (const row of r.rows) {
    assertEquals(row.measured, row.predicted, `${row.part}: ${row.operation}`);
  }
  assertEquals(r.liveTokens, 0);
});
