import { assertEquals } from "../../tests/harness/assert.ts";
import { endedChildren, parseStat } from "./reaper.ts";

Deno.test("parseStat() reads state and parent past a command name with spaces and parentheses", () => {
  assertEquals(parseStat("42 (sh) Z 1 42 42 0"), { state: "Z", ppid: 1 });
  assertEquals(parseStat("43 (a) b) (c) S 7 43"), { state: "S", ppid: 7 });
  assertEquals(parseStat("garbage"), undefined);
  assertEquals(parseStat("44 (x) Z notapid"), undefined);
});

Deno.test("endedChildren() lists only zombies of the parent, never the excluded pids", () => {
  const root = Deno.makeTempDirSync();
  const write = (pid: number, line: string) => {
    Deno.mkdirSync(`${root}/${pid}`);
    Deno.writeTextFileSync(`${root}/${pid}/stat`, line);
  };
  write(10, "10 (app) Z 5 10 10");
  write(11, "11 (grandchild) Z 5 11 11");
  write(12, "12 (running) S 5 12 12");
  write(13, "13 (other's) Z 9 13 13");
  Deno.mkdirSync(`${root}/self`);
  assertEquals(endedChildren(5, new Set([10]), root), [11]);
  Deno.removeSync(root, { recursive: true });
});
