import { assert, assertEquals } from "../../tests/harness/assert.ts";
import { makeCa, makeLeaf } from "../../tests/harness/pki.ts";
import { noDelayOf } from "../../tests/harness/nodelay.ts";
import { setNoDelayOnListeners, setNoDelayOnOwnSockets, socketInodes } from "./tcp_nodelay.ts";

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
      observed.push(noDelayOf("local", port));
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

Deno.test("setNoDelayOnOwnSockets() sets this process's TCP connections and skips other sockets", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  const client = await Deno.connect({ hostname: "127.0.0.1", port });
  const accepted = await listener.accept();
  const dir = await Deno.makeTempDir();
  const unix = Deno.listen({ transport: "unix", path: `${dir}/test.sock` });
  try {
    // Deno leaves Nagle on for both ends, as its fetch does for its connections.
    assertEquals([noDelayOf("remote", port), noDelayOf("local", port)], [[0], [0]]);
    // The listener, both ends and whatever TCP sockets the test runner holds; not the unix one.
    assert(setNoDelayOnOwnSockets() >= 3);
    assertEquals([noDelayOf("remote", port), noDelayOf("local", port)], [[1], [1]]);
  } finally {
    accepted.close();
    client.close();
    listener.close();
    unix.close();
    await Deno.remove(dir, { recursive: true });
  }
});
