import { assertEquals } from "../../tests/harness/assert.ts";
import { ENVIRON_LIMIT, readChildren, readEnviron, readMountNs, readStatus } from "./proc_read.ts";

async function withRoot(fn: (root: string) => Promise<void>) {
  const root = await Deno.makeTempDir();
  try {
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("readEnviron reads <root>/<pid>/environ up to the limit, and says when it cannot", () =>
  withRoot(async (root) => {
    const bytes = new TextEncoder().encode("A=1\0B=2\0");
    assertEquals(await readEnviron(root), "unreadable");
    await Deno.mkdir(`${root}/1`);
    await Deno.writeFile(`${root}/1/environ`, bytes);
    assertEquals(await readEnviron(root), bytes);
    await Deno.mkdir(`${root}/7`);
    await Deno.writeFile(`${root}/7/environ`, new Uint8Array(ENVIRON_LIMIT + 1));
    assertEquals(await readEnviron(root, 7), "too large");
    await Deno.writeFile(`${root}/7/environ`, new Uint8Array(ENVIRON_LIMIT));
    assertEquals((await readEnviron(root, 7) as Uint8Array).length, ENVIRON_LIMIT);
  }));

Deno.test("readChildren takes the kernel's space-separated pids and refuses anything else", () =>
  withRoot(async (root) => {
    const file = `${root}/1/task/1/children`;
    await Deno.mkdir(`${root}/1/task/1`, { recursive: true });
    assertEquals(await readChildren(root, 1), undefined, "no file");
    const cases: Array<[string, number[] | undefined]> = [
      ["", []],
      ["42 ", [42]],
      ["42 43 ", [42, 43]],
      ["42\n", [42]],
      ["0 ", undefined],
      ["-1 ", undefined],
      ["42a ", undefined],
      ["../2 ", undefined],
      ["12345678901 ", undefined],
    ];
    for (const [text, want] of cases) {
      await Deno.writeTextFile(file, text);
      assertEquals(await readChildren(root, 1), want, JSON.stringify(text));
    }
    await Deno.writeFile(file, new Uint8Array(64 * 1024 + 1).fill(0x31));
    assertEquals(await readChildren(root, 1), undefined, "over the limit");
  }));

Deno.test("readStatus takes PPid and the four uids; a status without them is undefined", () =>
  withRoot(async (root) => {
    await Deno.mkdir(`${root}/9`);
    await Deno.writeTextFile(
      `${root}/9/status`,
      "Name:\tsh (x) Uid:\t0\nState:\tS (sleeping)\nPPid:\t1\nUid:\t1000\t1000\t1000\t1000\n",
    );
    assertEquals(await readStatus(root, 9), { ppid: 1, uids: "1000 1000 1000 1000" });
    await Deno.writeTextFile(`${root}/9/status`, "Name:\tsh\nUid:\t0\t0\t0\t0\n");
    assertEquals(await readStatus(root, 9), undefined);
    assertEquals(await readStatus(root, 10), undefined);
  }));

Deno.test("readMountNs reads the ns/mnt link; the real one names a mount namespace", () =>
  withRoot(async (root) => {
    await Deno.mkdir(`${root}/3/ns`, { recursive: true });
    await Deno.symlink("mnt:[4026531841]", `${root}/3/ns/mnt`);
    assertEquals(await readMountNs(root, 3), "mnt:[4026531841]");
    assertEquals(await readMountNs(root, 4), undefined);
    assertEquals(/^mnt:\[[0-9]+\]$/.test((await readMountNs("/proc", Deno.pid)) ?? ""), true);
  }));
