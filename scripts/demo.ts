/** The README's main job: shows the product locally, with no cluster and no store server.
 * It grows with each capability that lands. */
import { ROOT } from "../tests/harness/process.ts";

async function show(title: string, args: string[]) {
  console.log(`\n$ secrets-store ${args.join(" ")}    # ${title}`);
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", `${ROOT}/main.ts`, ...args],
    stdin: "null",
  }).spawn().status;
  console.log(`(exit ${code})`);
}

await show("which build this is", ["version"]);
await show("the four roles of the one executable", ["--help"]);
