import { assertEquals } from "../../tests/harness/assert.ts";
import { silentLogger } from "../log/logger.ts";
import type { LoginResult, Secret, StoreClient } from "../vault/client.ts";
import { StoreError } from "../vault/errors.ts";
import type { StorePath } from "../config/store_path.ts";
import { KeptLogin } from "./session.ts";
import { steppedClock } from "./testdata/stepped_clock.ts";

const P = "demo-kv/data/app" as StorePath;
const signal = new AbortController().signal;

function fakeClient(
  o: { refuseReads?: number; lease?: number; leaseId?: string; renewable?: boolean } = {},
) {
  const calls: string[] = [];
  let refuse = o.refuseReads ?? 0;
  const client = {
    address: "https://store",
    read: (path: StorePath): Promise<Secret> => {
      calls.push("read");
      if (refuse-- > 0) {
        return Promise.reject(
          new StoreError("permission_denied", "permission denied", {
            address: "https://store",
            operation: "read",
            path,
            status: 403,
          }),
        );
      }
      const s: Secret = { path, kv: 2, data: { K: "v" } };
      if (o.leaseId) s.lease = { id: o.leaseId, leaseSeconds: 600, renewable: true };
      return Promise.resolve(s);
    },
    renewSelf: (): Promise<LoginResult> => {
      calls.push("renew");
      return Promise.resolve({ token: "t", leaseSeconds: o.lease ?? 60, renewable: true });
    },
    renewLease: (id: string) => {
      calls.push("renew_lease");
      return Promise.resolve({ id, leaseSeconds: 600, renewable: true });
    },
    revokeSelf: (): Promise<void> => {
      calls.push("revoke");
      return Promise.resolve();
    },
    close: () => calls.push("close"),
  } as unknown as StoreClient;
  const login = () => {
    calls.push("login");
    const renewable = o.renewable ?? true;
    return Promise.resolve({ token: "t", leaseSeconds: o.lease ?? 60, renewable });
  };
  return { client, login, calls };
}

Deno.test("KeptLogin logs in once, renews at two thirds of the lease, and reads on the same login", async () => {
  const t = steppedClock();
  const f = fakeClient();
  const s = new KeptLogin(f.client, f.login, silentLogger, t.clock);
  await s.read(P, undefined, signal);
  await t.advance();
  assertEquals(t.now, 40_000);
  await s.read(P, undefined, signal);
  await t.advance();
  assertEquals(t.now, 80_000);
  assertEquals(f.calls, ["login", "read", "renew", "read", "renew"]);
  s.close();
});

Deno.test("KeptLogin logs in again on a refused read, and then reads once more", async () => {
  const t = steppedClock();
  const f = fakeClient({ refuseReads: 1 });
  const s = new KeptLogin(f.client, f.login, silentLogger, t.clock);
  assertEquals((await s.read(P, undefined, signal)).data, { K: "v" });
  assertEquals(f.calls, ["login", "read", "login", "read"]);
  s.close();
});

Deno.test("KeptLogin logs in again once the lease has run out unrenewed", async () => {
  const t = steppedClock();
  const f = fakeClient();
  const login = () => {
    f.calls.push("login");
    return Promise.resolve({ token: "t", leaseSeconds: 60, renewable: false });
  };
  const s = new KeptLogin(f.client, login, silentLogger, t.clock);
  await s.read(P, undefined, signal);
  await s.read(P, undefined, signal);
  // Time passes through another sleeper (a poll interval).
  void t.clock.sleep(61_000);
  await t.advance();
  await s.read(P, undefined, signal);
  assertEquals(f.calls, ["login", "read", "read", "login", "read"]);
  s.close();
});

Deno.test("KeptLogin reads a dynamic secret once: a poll gets the first answer, not new credentials", async () => {
  const t = steppedClock();
  const f = fakeClient({ leaseId: "database/creds/app/abc" });
  const s = new KeptLogin(f.client, f.login, silentLogger, t.clock);
  const first = await s.read(P, undefined, signal);
  const again = await s.read(P, undefined, signal);
  assertEquals(again, first);
  assertEquals(f.calls.filter((c) => c === "read").length, 1);
  s.close();
});

Deno.test("KeptLogin.revoke() stops renewals before it revokes the kept token", async () => {
  const t = steppedClock();
  const f = fakeClient();
  const s = new KeptLogin(f.client, f.login, silentLogger, t.clock);
  await s.read(P, undefined, signal);
  await s.revoke(signal);
  // The renewal that was due at two thirds of the lease is never sent.
  await t.advance();
  s.close();
  assertEquals(f.calls, ["login", "read", "revoke", "close"]);
});

Deno.test("KeptLogin keeps a dynamic secret's lease renewed while it reads on", async () => {
  const t = steppedClock();
  const f = fakeClient({ leaseId: "database/creds/app/abc", lease: 3_600 });
  const s = new KeptLogin(f.client, f.login, silentLogger, t.clock);
  await s.read(P, undefined, signal);
  assertEquals(s.leases.size, 1);
  await t.advance(); // the lease's renewal, at two thirds of its 600 s
  assertEquals(t.now, 400_000);
  assertEquals(f.calls, ["login", "read", "renew_lease"]);
  s.close();
});

Deno.test("KeptLogin: a store token that cannot be renewed ends the leases read with it, before it ends", async () => {
  const t = steppedClock();
  const f = fakeClient({ leaseId: "database/creds/app/abc", lease: 60, renewable: false });
  const s = new KeptLogin(f.client, f.login, silentLogger, t.clock);
  const ends: number[] = [];
  s.leases.onEnd(() => ends.push(t.now));
  await s.read(P, undefined, signal);
  await t.advance();
  // The token ends at 60 s (the store revokes its leases then): the app is stopped 11 s before.
  assertEquals(ends, [49_000]);
  s.close();
});
