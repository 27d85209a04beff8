import { assertEquals } from "../../tests/harness/assert.ts";
import { silentLogger } from "../log/logger.ts";
import type { LoginResult, Secret, StoreClient } from "../vault/client.ts";
import { StoreError, type StoreErrorKind } from "../vault/errors.ts";
import type { StorePath } from "../config/store_path.ts";
import { KeptLogin } from "./session.ts";
import { steppedClock } from "./testdata/stepped_clock.ts";

const P = "demo-kv/data/app" as StorePath;
const KV = "demo-kv/data/other" as StorePath;
const signal = new AbortController().signal;

function fakeClient(
  o: {
    refuseReads?: number;
    lease?: number;
    leaseId?: string;
    renewable?: boolean;
    /** How the token's renewals fail, in turn, before they succeed. */
    renewFails?: StoreErrorKind[];
    now?: () => number;
  } = {},
) {
  const calls: string[] = [];
  let refuse = o.refuseReads ?? 0;
  const renewFails = [...o.renewFails ?? []];
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
      if (o.leaseId && path === P) s.lease = { id: o.leaseId, leaseSeconds: 600, renewable: true };
      return Promise.resolve(s);
    },
    renewSelf: (): Promise<LoginResult> => {
      calls.push(o.now ? `renew at ${o.now() / 1000}s` : "renew");
      const fail = renewFails.shift();
      if (fail) {
        return Promise.reject(
          new StoreError(fail, fail === "permission_denied" ? "permission denied" : "busy", {
            address: "https://store",
            operation: "renew",
            path: "auth/token/renew-self",
            status: fail === "permission_denied" ? 403 : fail === "server_error" ? 503 : undefined,
          }),
        );
      }
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
  /** The next `n` reads are refused (403). */
  const refuseReads = (n: number) => (refuse = n);
  return { client, login, calls, refuseReads };
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

/** A KeptLogin on a stepped clock with a 60 s token whose renewals fail with `renewFails`
 * first, and a dynamic secret (lease of 600 s) read at 0 s; `ends` are the leases' stops. */
async function keptWithLease(renewFails: StoreErrorKind[]) {
  const t = steppedClock();
  const f = fakeClient({ leaseId: "database/creds/app/abc", renewFails, now: t.clock.now });
  const s = new KeptLogin(f.client, f.login, silentLogger, t.clock);
  const ends: number[] = [];
  s.leases.onEnd(() => ends.push(t.now / 1000));
  await s.read(P, undefined, signal);
  /** Lets sleeps end until `done()` (bounded, so a bug fails, never hangs). */
  const runUntil = async (done: () => boolean) => {
    for (let i = 0; i < 100 && !done() && t.pending > 0; i++) await t.advance();
  };
  const renews = () => f.calls.filter((c) => c.startsWith("renew at"));
  return { t, f, s, ends, runUntil, renews };
}

Deno.test("KeptLogin retries a token renewal that fails transiently, and keeps the token and the leases", async () => {
  const { f, s, ends, runUntil, renews } = await keptWithLease(["server_error", "unreachable"]);
  await runUntil(() => s.renewals >= 2);
  // Full jitter at 0.5: 0.5 s, then 1 s; renewed at 41.5 s, so the next at two thirds after.
  assertEquals(renews(), ["renew at 40s", "renew at 40.5s", "renew at 41.5s", "renew at 81.5s"]);
  await s.read(KV, undefined, signal);
  assertEquals(f.calls.filter((c) => c === "login").length, 1);
  assertEquals(ends, []);
  s.close();
});

Deno.test("KeptLogin gives up a token whose renewal fails until its end, in time for its leases' stop", async () => {
  const { t, f, s, ends, runUntil, renews } = await keptWithLease(Array(100).fill("server_error"));
  await runUntil(() => ends.length > 0);
  // The token ends at 60 s; its leases are stopped 11 s before, at 49 s: tried at 40, 40.5,
  // 41.5, 43.5 and 47.5 s, the next wait (8 s) would pass 49 s.
  assertEquals(renews(), [40, 40.5, 41.5, 43.5, 47.5].map((at) => `renew at ${at}s`));
  assertEquals(ends, [49]);
  assertEquals(t.now, 49_000);
  // Given up: the next read (of another path: the dynamic secret is not read again) logs in.
  await s.read(KV, undefined, signal);
  assertEquals(f.calls.filter((c) => c === "login").length, 2);
  s.close();
});

Deno.test("KeptLogin gives up a token at once when the store refuses its renewal (403)", async () => {
  const { f, s, ends, runUntil, renews } = await keptWithLease(["permission_denied"]);
  await runUntil(() => ends.length > 0);
  assertEquals(renews(), ["renew at 40s"]);
  assertEquals(ends, [49]);
  await s.read(KV, undefined, signal);
  assertEquals(f.calls.filter((c) => c === "login").length, 2);
  s.close();
});

/** A KeptLogin whose token renewal at 40 s has failed transiently, its retry due at 40.5 s. */
async function retryDue() {
  const t = steppedClock();
  const f = fakeClient({ renewFails: ["server_error"], now: t.clock.now });
  const s = new KeptLogin(f.client, f.login, silentLogger, t.clock);
  await s.read(P, undefined, signal);
  await t.advance();
  return { t, f, s };
}

Deno.test("KeptLogin: a new login ends the retries of the token it replaces; one renewal at a time", async () => {
  const { t, f, s } = await retryDue();
  assertEquals(t.pending, 1);
  // A read refused meanwhile logs in again: the old token's retry is dropped, and the new
  // token is renewed at two thirds of its own lease, once.
  f.refuseReads(1);
  await s.read(P, undefined, signal);
  const renews = () => f.calls.filter((c) => c.startsWith("renew")).length;
  for (let i = 0; i < 10 && renews() < 4; i++) await t.advance();
  assertEquals(f.calls.filter((c) => c !== "read"), [
    "login",
    "renew at 40s",
    "login",
    "renew at 80s",
    "renew at 120s",
    "renew at 160s",
  ]);
  s.close();
});

Deno.test("KeptLogin: shutdown ends a renewal's retries", async () => {
  const { t, f, s } = await retryDue();
  await s.revoke(signal);
  await t.advance();
  assertEquals(t.pending, 0);
  assertEquals(f.calls.filter((c) => c.startsWith("renew")), ["renew at 40s"]);
  s.close();
});
