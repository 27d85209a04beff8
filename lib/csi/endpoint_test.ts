import * as grpc from "@grpc/grpc-js";
import {
  assert,
  assertArrayIncludes,
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "../../tests/harness/assert.ts";
import { csiClient } from "../../tests/harness/csi.ts";
import { waitUntil } from "../../tests/harness/process.ts";
import { within } from "../../tests/harness/within.ts";
import { silentLogger } from "../log/logger.ts";
import { serveGrpc } from "./endpoint.ts";
import { csiPackage } from "./proto.ts";
import { MAX_RELAYED, unixHttp2Broken } from "./unix_relay.ts";

Deno.test("a socket path too long for a unix socket is refused by name, not with EINVAL", async () => {
  const path = `/tmp/${"d".repeat(100)}/csi.sock`;
  const e = await assertRejects(() => serveGrpc(path, [], silentLogger), TypeError);
  assertStringIncludes(e.message, `${path} is 114 bytes; a unix socket allows 107`);
});

async function served(relay: boolean) {
  const dir = await Deno.makeTempDir();
  const pkg = csiPackage();
  const endpoint = await serveGrpc(
    `${dir}/csi.sock`,
    [[pkg.Identity.service, {
      GetPluginInfo: () => Promise.resolve({ name: "relay-test", vendorVersion: "1" }),
    }]],
    silentLogger,
    { relay },
  );
  return { dir, endpoint };
}

for (const relay of [false, true]) {
  Deno.test(`a call over the unix socket is answered ${relay ? "through the loopback relay" : "directly"}`, async () => {
    const { dir, endpoint } = await served(relay);
    const client = csiClient(endpoint.path);
    try {
      for (let i = 0; i < 3; i++) {
        const info = await client.call<{ name: string }>("Identity", "GetPluginInfo", {});
        assertEquals(info.name, "relay-test");
      }
      assertEquals(endpoint.loopbackPort !== undefined, relay);
    } finally {
      client.close();
      await endpoint.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("the relay's loopback listener refuses a connection the relay did not make", async () => {
  const { dir, endpoint } = await served(true);
  const pkg = csiPackage();
  const direct = new pkg.Identity(
    `127.0.0.1:${endpoint.loopbackPort}`,
    grpc.credentials.createInsecure(),
  );
  try {
    const e = await new Promise<grpc.ServiceError | undefined>((resolve) =>
      direct.GetPluginInfo!(
        {},
        { deadline: Date.now() + 5_000 },
        (err: grpc.ServiceError) => resolve(err ?? undefined),
      )
    );
    assert(e, "a direct loopback call was answered");
    assertArrayIncludes(
      [grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED],
      [e.code],
      e.message,
    );
  } finally {
    direct.close();
    await endpoint.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("unixHttp2Broken() holds for the runtimes before 2.7.13 only", () => {
  for (const v of ["2.5.7", "2.7.5", "2.7.11", "2.7.12", "1.46.3"]) {
    assertEquals(unixHttp2Broken(v), true, v);
  }
  for (const v of ["2.7.13", "2.7.14", "2.8.0", "2.9.6", "3.0.0"]) {
    assertEquals(unixHttp2Broken(v), false, v);
  }
});

Deno.test("the relay holds at most MAX_RELAYED connections: one more is closed at once, and calls work again once they go", async () => {
  const { dir, endpoint } = await served(true);
  const held: Deno.UnixConn[] = [];
  try {
    for (let i = 0; i < MAX_RELAYED; i++) {
      held.push(await Deno.connect({ transport: "unix", path: endpoint.path }));
    }
    // The relay accepts in order and counts a pair as it accepts it, so by the time it takes
    // this one it has counted all those before.
    const extra = await Deno.connect({ transport: "unix", path: endpoint.path });
    try {
      const read = await within(
        5_000,
        "the relay to close the connection over the limit",
        extra.read(new Uint8Array(1)),
      );
      assertEquals(read, null, "the connection over the limit was answered");
    } finally {
      extra.close();
    }
    for (const c of held.splice(0)) c.close();
    // The relay counts a pair as gone once both of its pipes have ended, on their own time: a
    // poll with a deadline.
    let answered = "";
    await waitUntil("a call once the held connections are closed", async () => {
      const client = csiClient(endpoint.path);
      try {
        const call = client.call<{ name: string }>("Identity", "GetPluginInfo", {});
        answered = (await within(2_000, "GetPluginInfo", call)).name;
        return true;
      } finally {
        client.close();
      }
    }, 5_000);
    assertEquals(answered, "relay-test");
  } finally {
    for (const c of held) c.close();
    await endpoint.close();
    await Deno.remove(dir, { recursive: true });
  }
});
