import { assertEquals } from "../../tests/harness/assert.ts";
import { parseStorePath } from "../config/store_path.ts";
import { type Kept, LeaseBook, planLease, renewed } from "./leases.ts";
import type { Identity } from "./store_pool.ts";

const identity: Identity = {
  address: "https://store.example:8200",
  skipVerify: false,
  authPath: parseStorePath("auth/kubernetes"),
  role: "app",
  serviceAccount: { namespace: "ns", name: "sa" },
};
const path = parseStorePath("database/creds/app");
const EVERY = 2_000;

/** A lease of `seconds` granted at 0, first granted for `increment`. */
function kept(seconds: number, o: { increment?: number; renewable?: boolean } = {}): Kept {
  return {
    identity,
    secret: {
      path,
      kv: 1,
      data: { username: "u" },
      lease: { id: "database/creds/app/x", leaseSeconds: seconds, renewable: o.renewable ?? true },
    },
    increment: o.increment ?? seconds,
    grantedAt: 0,
    login: 1,
  };
}

Deno.test("planLease keeps a fresh lease, renews at two thirds of its grant, or when the next sweep would come after its end", () => {
  assertEquals(planLease(kept(20), 0, EVERY, 1), "keep");
  assertEquals(planLease(kept(20), 13_000, EVERY, 1), "keep");
  assertEquals(planLease(kept(20), 13_400, EVERY, 1), "renew");
  // A sweep interval longer than the third after the renewal point: renewed early.
  assertEquals(planLease(kept(20), 1_000, 19_500, 1), "renew");
});

Deno.test("planLease reads anew a lease that cannot be extended and ends before the sweep after next", () => {
  // Its last grant came back shorter than asked (the maximum TTL): kept while it lasts.
  const short = kept(10, { increment: 20 });
  assertEquals(planLease(short, 0, EVERY, 1), "keep");
  assertEquals(planLease(short, 5_000, EVERY, 1), "keep");
  assertEquals(planLease(short, 6_000, EVERY, 1), "read");
  const fixed = kept(20, { renewable: false });
  assertEquals(planLease(fixed, 15_000, EVERY, 1), "keep");
  assertEquals(planLease(fixed, 16_000, EVERY, 1), "read");
});

Deno.test("planLease reads anew once the identity logged in again (the old token took its leases), and keeps a lease without a TTL", () => {
  assertEquals(planLease(kept(20), 0, EVERY, 2), "read");
  assertEquals(planLease(kept(0), 1e9, EVERY, 1), "keep");
});

Deno.test("renewed() keeps the new grant, unless it is short and ends before the sweep after next", () => {
  const k = kept(20);
  const lease = (s: number, renewable = true) => ({
    ...k.secret.lease,
    leaseSeconds: s,
    renewable,
  });
  assertEquals(renewed(k, lease(20), 14_000, EVERY)?.grantedAt, 14_000);
  assertEquals(renewed(k, lease(8), 14_000, EVERY)?.secret.lease.leaseSeconds, 8);
  assertEquals(renewed(k, lease(4), 14_000, EVERY), undefined);
  assertEquals(renewed(k, lease(20, false), 14_000, EVERY)?.secret.lease.renewable, false);
});

Deno.test("LeaseBook keeps leased reads only, hands back the lease a read replaces, and what retain() drops", () => {
  const book = new LeaseBook();
  const k = kept(20);
  assertEquals(book.readDone("a", identity, k.secret, 0, 1), undefined);
  assertEquals(book.get("a")?.increment, 20);
  const next = { ...k.secret, lease: { ...k.secret.lease, id: "database/creds/app/y" } };
  assertEquals(book.readDone("a", identity, next, 5, 1)?.secret.lease.id, "database/creds/app/x");
  // The same lease again is no replacement; a read without a lease forgets it.
  assertEquals(book.readDone("a", identity, next, 6, 1), undefined);
  assertEquals(
    book.readDone("a", identity, { path, kv: 1, data: {} }, 7, 1)?.secret.lease.id,
    "database/creds/app/y",
  );
  assertEquals(book.size, 0);
  book.readDone("a", identity, k.secret, 0, 1);
  book.readDone("b", identity, next, 0, 1);
  assertEquals(book.retain((key) => key === "a").map((d) => d.secret.lease.id), [
    "database/creds/app/y",
  ]);
  assertEquals(book.size, 1);
});
