import { assertEquals, assertStringIncludes } from "../../tests/harness/assert.ts";
import { silentLogger } from "../log/logger.ts";
import type { Lease } from "../vault/answers.ts";
import { StoreError, type StoreErrorKind } from "../vault/errors.ts";
import type { StorePath } from "../config/store_path.ts";
import {
  type LeaseEnd,
  LeaseKeeper,
  renewAfterMs,
  STOP_BEFORE_END_MS,
  stopBeforeEndMs,
} from "./leases.ts";
import { steppedClock } from "./testdata/stepped_clock.ts";

const P = "database/creds/app" as StorePath;
const lease = (leaseSeconds: number, renewable = true, id = "database/creds/app/a1"): Lease => ({
  id,
  leaseSeconds,
  renewable,
});

function storeError(kind: StoreErrorKind): StoreError {
  return new StoreError(kind, kind === "bad_request" ? "lease not found" : "busy", {
    address: "https://store",
    operation: "renew_lease",
    path: "sys/leases/renew",
    lease: "database/creds/app/a1",
  });
}

/** A keeper on a stepped clock whose renewals answer from `answers` in turn (a number grants
 * that many seconds, an error kind throws it), the last answer repeating. */
function keeper(answers: Array<number | StoreErrorKind>, revokeFails = false) {
  const t = steppedClock();
  const calls: string[] = [];
  const ends: Array<LeaseEnd & { at: number }> = [];
  let n = 0;
  const k = new LeaseKeeper(
    {
      renew: (id, increment) => {
        const a = answers[Math.min(n++, answers.length - 1)]!;
        calls.push(`renew ${id} +${increment}s at ${t.now / 1000}s`);
        if (typeof a !== "number") return Promise.reject(storeError(a));
        return Promise.resolve({ id, leaseSeconds: a, renewable: true });
      },
      revoke: (id) => {
        calls.push(`revoke ${id}`);
        return revokeFails ? Promise.reject(storeError("permission_denied")) : Promise.resolve();
      },
    },
    silentLogger,
    t.clock,
  );
  k.onEnd((e) => ends.push({ ...e, at: t.now / 1000 }));
  /** Lets sleeps end until `done()` or none is left (bounded, so a bug fails, never hangs). */
  const runUntil = async (done: () => boolean) => {
    for (let i = 0; i < 100 && !done() && t.pending > 0; i++) await t.advance();
  };
  return { t, k, calls, ends, runUntil };
}

Deno.test("renewAfterMs() is two thirds of a renewable lease, none otherwise", () => {
  assertEquals(renewAfterMs({ leaseSeconds: 60, renewable: true }), 40_000);
  assertEquals(renewAfterMs({ leaseSeconds: 60, renewable: false }), undefined);
  assertEquals(renewAfterMs({ leaseSeconds: 0, renewable: true }), undefined);
});

Deno.test("stopBeforeEndMs() leaves the app's whole stop time, less for a lease too short for it", () => {
  assertEquals(stopBeforeEndMs(3_600_000), STOP_BEFORE_END_MS);
  assertEquals(STOP_BEFORE_END_MS, 11_000);
  // 6 s: renewed at 4 s, stopped at 5 s, so a renewal can still be tried for a second.
  assertEquals(stopBeforeEndMs(6_000), 1_000);
});

Deno.test("LeaseKeeper renews at two thirds of each grant, asking for the lease's first duration", async () => {
  const { k, calls, ends, runUntil } = keeper([60]);
  k.keep(P, lease(60), 0);
  await runUntil(() => calls.length >= 3);
  k.stop();
  assertEquals(calls, [
    "renew database/creds/app/a1 +60s at 40s",
    "renew database/creds/app/a1 +60s at 80s",
    "renew database/creds/app/a1 +60s at 120s",
  ]);
  assertEquals(k.renewals, 3);
  assertEquals(ends, []);
});

Deno.test("LeaseKeeper: a renewal granting less than asked (maximum TTL) restarts the app before the lease ends", async () => {
  // Renewed at 40 s for 60 s (to 100 s), then at 80 s only 30 s are granted: the end is 110 s.
  const { k, calls, ends, runUntil } = keeper([60, 30]);
  k.keep(P, lease(60), 0);
  await runUntil(() => ends.length > 0);
  assertEquals(calls.length, 2);
  // Stopped the lease's stop time (10 s for a 60 s lease) before it ends; never renewed again.
  assertEquals(ends.map((e) => [e.at, e.path]), [[100, P]]);
  assertStringIncludes(ends[0]!.reason, "maximum TTL");
  k.stop();
});

Deno.test("LeaseKeeper: a long lease that will end leaves the app its whole stop time", async () => {
  const { k, ends, runUntil } = keeper([600]);
  k.keep(P, lease(3_600), 0);
  await runUntil(() => ends.length > 0);
  // 2,400 s: renewed, only 600 s granted, so the lease ends at 3,000 s; stopped 11 s before.
  assertEquals(ends.map((e) => e.at), [3_000 - 11]);
});

Deno.test("LeaseKeeper: a refused renewal restarts the app at once, the lease may be gone already", async () => {
  const { k, calls, ends, runUntil } = keeper(["bad_request"]);
  k.keep(P, lease(60), 0);
  await runUntil(() => ends.length > 0);
  assertEquals(calls, ["renew database/creds/app/a1 +60s at 40s"]);
  assertEquals(ends.map((e) => e.at), [40]);
  assertStringIncludes(ends[0]!.reason, "lease not found");
});

Deno.test("LeaseKeeper retries a transient failure with backoff, and keeps renewing once it succeeds", async () => {
  const { k, calls, ends, runUntil } = keeper(["server_error", "unreachable", 60]);
  k.keep(P, lease(60), 0);
  await runUntil(() => k.renewals >= 2);
  k.stop();
  // Full jitter at 0.5: 0.5 s, then 1 s; the next renewal is two thirds after the one granted.
  assertEquals(calls.map((c) => c.split(" at ")[1]), ["40s", "40.5s", "41.5s", "81.5s"]);
  assertEquals(ends, []);
});

Deno.test("LeaseKeeper: transient failures that use up the lease's time restart the app before its end", async () => {
  const { k, calls, ends, runUntil } = keeper(["server_error"]);
  k.keep(P, lease(60), 0);
  await runUntil(() => ends.length > 0);
  // Tried at 40, 40.5, 41.5, 43.5 and 47.5 s; the next wait (8 s) would pass the stop at 50 s.
  assertEquals(calls.map((c) => c.split(" at ")[1]), ["40s", "40.5s", "41.5s", "43.5s", "47.5s"]);
  assertEquals(ends.map((e) => e.at), [50]);
  assertStringIncludes(ends[0]!.reason, "could not be renewed in time");
});

Deno.test("LeaseKeeper: a lease that cannot be renewed restarts the app before its end, unrenewed", async () => {
  const { k, calls, ends, runUntil } = keeper([60]);
  k.keep(P, lease(600, false), 5);
  await runUntil(() => ends.length > 0);
  assertEquals(calls, []);
  assertEquals(ends.map((e) => e.at), [(5 + 600_000 - 11_000) / 1000]);
});

Deno.test("LeaseKeeper: a lease granted with no duration (no TTL) is neither renewed nor a restart, and is revoked at the end", async () => {
  const { k, calls, ends, runUntil } = keeper([60]);
  k.keep(P, lease(0), 5);
  await runUntil(() => ends.length > 0);
  assertEquals([calls, ends], [[], []]);
  await k.revokeAll(AbortSignal.timeout(1000));
  assertEquals(calls, ["revoke database/creds/app/a1"]);
});

Deno.test("LeaseKeeper: the end of the token a lease was read with ends the lease; a new login's leases are not", async () => {
  const { k, ends, runUntil } = keeper([600]);
  k.tokenEnds(100_000); // known before the read (a token that cannot be renewed)
  k.keep(P, lease(600), 0);
  await runUntil(() => ends.length > 0);
  assertEquals(ends.map((e) => e.at), [89]);
  assertStringIncludes(ends[0]!.reason, "store token");

  const other = keeper([600]);
  other.k.keep(P, lease(600), 0);
  other.k.newLogin();
  other.k.tokenEnds(100_000); // the new login's token: the lease read before is not its
  await other.t.advance();
  assertEquals(other.ends, []);
  other.k.stop();
  k.stop();
});

Deno.test("LeaseKeeper reports one end only, the earliest, also to a late onEnd", async () => {
  const { t, k, ends, runUntil } = keeper(["bad_request"]);
  k.keep(P, lease(60, true, "database/creds/app/a1"), 0);
  k.keep(P, lease(600, false, "database/creds/app/b2"), 0);
  await runUntil(() => t.pending === 0);
  assertEquals(ends.map((e) => e.at), [40]);
  const late: LeaseEnd[] = [];
  k.onEnd((e) => late.push(e));
  assertEquals(late.length, 1);
});

Deno.test("LeaseKeeper.revokeAll() stops renewals and revokes every lease; failures are not thrown", async () => {
  const { k, calls, runUntil } = keeper([60], true);
  k.keep(P, lease(60, true, "database/creds/app/a1"), 0);
  k.keep(P, lease(60, true, "database/creds/app/b2"), 0);
  await k.revokeAll(new AbortController().signal);
  await runUntil(() => false);
  assertEquals(calls, ["revoke database/creds/app/a1", "revoke database/creds/app/b2"]);
});
