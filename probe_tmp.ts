import { csiClient } from "./tests/harness/csi.ts";
const c = csiClient("/tmp/inj/s.sock");
const t = setTimeout(() => {
  console.log("no answer in 5 s");
  Deno.exit(3);
}, 5000);
console.log(JSON.stringify(await c.call("Identity", "GetPluginInfo", {})));
clearTimeout(t);
Deno.exit(0);
