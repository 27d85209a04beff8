import { assertEquals } from "../../tests/harness/assert.ts";
import { addressBytes, shutdownSockets } from "./socket_shutdown.ts";

Deno.test("addressBytes() reads IPv4, IPv6 and IPv4-mapped IPv6 addresses", () => {
  assertEquals(addressBytes("10.1.2.3"), [10, 1, 2, 3]);
  assertEquals(addressBytes("::1"), [...Array(15).fill(0), 1]);
  assertEquals(addressBytes("[fe80::1:2]"), [0xfe, 0x80, ...Array(10).fill(0), 0, 1, 0, 2]);
  assertEquals(addressBytes("::ffff:10.0.0.1"), [...Array(10).fill(0), 0xff, 0xff, 10, 0, 0, 1]);
});

Deno.test("shutdownSockets() ends an accepted socket's peer connection, and only that one", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const a = await Deno.connect({ hostname: "127.0.0.1", port: l.addr.port });
  const b = await Deno.connect({ hostname: "127.0.0.1", port: l.addr.port });
  const served = [await l.accept(), await l.accept()];
  try {
    const addr = a.localAddr as Deno.NetAddr;
    assertEquals(shutdownSockets(l.addr.port, [{ hostname: addr.hostname, port: addr.port }]), 1);
    assertEquals(await a.read(new Uint8Array(1)), null, "the shut-down peer sees the end");
    await served[1]!.write(new Uint8Array([7]));
    const buf = new Uint8Array(1);
    assertEquals([await b.read(buf), buf[0]], [1, 7], "the other connection carries on");
  } finally {
    for (const c of [a, b, ...served]) c.close();
    l.close();
  }
});
