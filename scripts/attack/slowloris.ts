/** Holds `--count` connections to 127.0.0.1:`--port` that drip a request head a byte every
 * `--every` ms (tests/harness/hostile.ts), opening a new one for each the server closes, for
 * at most `--seconds`; prints "holding N" every 5 s. The webhook benchmark runs it beside
 * its cells (scripts/bench/webhook.ts --slowloris=N). Connects only to 127.0.0.1.
 * Run: deno run -A scripts/attack/slowloris.ts --port=P --ca-file=F [--count=500]
 * [--every=2000] [--seconds=600] */
import { type Hostile, openHostile } from "../../tests/harness/hostile.ts";

const arg = (name: string) => Deno.args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
const port = Number(arg("port"));
const caCert = await Deno.readTextFile(arg("ca-file") ?? "");
const count = Math.min(5_000, Number(arg("count") ?? 500));
const every = Number(arg("every") ?? 2_000);
const until = performance.now() + Math.min(3_600, Number(arg("seconds") ?? 600)) * 1000;
let open = 0;
let reopened = 0;

async function hold() {
  while (performance.now() < until) {
    let h: Hostile;
    try {
      h = await openHostile("dripped-head", { port, caCert, dripEveryMs: every });
    } catch {
      await new Promise((r) => setTimeout(r, 100));
      continue;
    }
    open++;
    await h.closed;
    open--;
    reopened++;
  }
}

const timer = setInterval(() => console.log(`holding ${open} (${reopened} reopened)`), 5_000);
// Opened 25 at a time, as an attacker ramping up would.
const holders: Promise<void>[] = [];
for (let i = 0; i < count; i += 25) {
  for (let j = i; j < Math.min(count, i + 25); j++) holders.push(hold());
  await new Promise((r) => setTimeout(r, 50));
}
await Promise.all(holders);
clearInterval(timer);
Deno.exit(0);
