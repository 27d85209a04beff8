import { assertEquals } from "../../tests/harness/assert.ts";
import { makeCa, makeLeaf } from "../../tests/harness/pki.ts";
import { setNoDelayOnListeners, socketFds, socketInodes } from "./tcp_nodelay.ts";

/** TCP_NODELAY of this process's accepted connections on `port`, read with getsockopt(2). */
function acceptedNoDelay(port: number): number[] {
  const libc = Deno.dlopen("libc.so.6", {
    getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  });
  try {
    const ESTABLISHED = "01";
    return socketFds(socketInodes(port, ESTABLISHED)).map((fd) => {
      const value = new Int32Array(1);
      const size = new Uint32Array([4]);
      if (libc.symbols.getsockopt(fd, 6, 1, value, size) !== 0) throw new Error("getsockopt");
      return value[0]!;
    });
  } finally {
    libc.close();
  }
}

Deno.test("a TLS listener's accepted connections get TCP_NODELAY once it is set on the listener", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const ca = await makeCa(dir, "ca");
    const leaf = await makeLeaf(dir, "leaf", ca, ["IP:127.0.0.1"]);
    const pair = {
      cert: Deno.readTextFileSync(leaf.certFile),
      key: Deno.readTextFileSync(leaf.keyFile),
    };
    const observed: number[][] = [];
    for (const set of [false, true]) {
      const listener = Deno.listenTls({ hostname: "127.0.0.1", port: 0, ...pair });
      const port = listener.addr.port;
      if (set) assertEquals(setNoDelayOnListeners(port), 1);
      const client = await Deno.connect({ hostname: "127.0.0.1", port });
      const accepted = await listener.accept();
      observed.push(acceptedNoDelay(port));
      accepted.close();
      client.close();
      listener.close();
    }
    // Without the option Deno leaves Nagle on, which is why the server sets it.
    assertEquals(observed, [[0], [1]]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("setNoDelayOnListeners() touches only this process's listeners on that port", async () => {
  // Another process listens; its socket shows in the kernel's table but not among our files.
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      "const l = Deno.listen({ port: 0 }); console.log(l.addr.port); await l.accept();",
    ],
    stdout: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    const port = Number((await reader.read()).value);
    assertEquals(socketInodes(port).size, 1, "the other process listens");
    assertEquals(setNoDelayOnListeners(port), 0);
  } finally {
    child.kill();
    await reader.cancel();
    await child.status;
  }
});
