import { assert } from "../tests/harness/assert.ts";
import { ANCHORS, seeDocs, TROUBLESHOOTING } from "./troubleshooting.ts";

Deno.test("every anchor the messages link to exists in docs/troubleshooting.md", async () => {
  const page = await Deno.readTextFile(new URL(`../${TROUBLESHOOTING}`, import.meta.url));
  for (const a of ANCHORS) {
    assert(page.includes(`<a id="${a}"></a>`), `docs/troubleshooting.md has no anchor ${a}`);
    assert(seeDocs(a).endsWith(`${TROUBLESHOOTING}#${a})`));
  }
});
