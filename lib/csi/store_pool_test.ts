import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "../../tests/harness/assert.ts";
import { parseStorePath } from "../config/store_path.ts";
import { FakeStore } from "../../tests/harness/fake_store.ts";
import type { Logger } from "../log/logger.ts";
import { StoreError } from "../vault/errors.ts";
import { type Identity, identityKey, StorePool } from "./store_pool.ts";

const SECRET = parseStorePath("demo-kv/data/myapp-secret");
const HOUR = 3600_000;

function identity(sa = "myapp-sa", role = "myapp-role"): Identity {
  return {
    address: "https://store.example:8200",
    skipVerify: false,
    authPath: parseStorePath("kubernetes_local"),
    role,
    serviceAccount: { namespace: "myapp-namespace", name: sa },
  };
}

/** Runs `fn` with a pool over a fresh in-memory store that accepts `jwts` for myapp-role;
 * `warnings` collects what the pool logged. */
async function withPool(
  jwts: string[],
  fn: (p: StorePool, store: FakeStore, warnings: string[]) => Promise<void>,
  o: { renewBeforeMs?: number; revokeTokens?: boolean } = {},
): Promise<void> {
  const store = new FakeStore();
  for (const jwt of jwts) store.accepted.set(jwt, "myapp-role");
  store.secrets.set(SECRET, { DB_PASS: "pw" });
  const warnings: string[] = [];
  const logger: Logger = {
    warn: (m, f) => warnings.push(`${m} ${JSON.stringify(f)}`),
    debug() {},
    info() {},
    error() {},
  };
  const p = new StorePool({
    requestTimeoutMs: 1000,
    logger,
    createTransport: () => store.transport(),
    ...o,
  });
  try {
    await fn(p, store, warnings);
  } finally {
    p.close();
  }
}

Deno.test("StorePool: volumes of one identity share one login; another ServiceAccount gets its own", async () => {
  await withPool(["jwt-a1", "jwt-a2", "jwt-b"], async (p, store) => {
    await p.admit(identity(), "vol-1", "jwt-a1", Date.now() + HOUR);
    await p.admit(identity(), "vol-2", "jwt-a2", Date.now() + HOUR);
    await p.admit(identity("other-sa"), "vol-3", "jwt-b", Date.now() + HOUR);
    for (const sa of ["myapp-sa", "myapp-sa", "other-sa", "myapp-sa"]) {
      await p.read(identity(sa), SECRET, undefined);
    }
    // Each new token is proven once at admit; the reads ride on their identity's login.
    assertEquals(store.logins, ["jwt-a1", "jwt-a2", "jwt-b"]);
    const [a, b] = [store.reads[0], store.reads[2]];
    assertEquals(store.reads, [a, a, b, a], "one store token per identity");
    assert(a !== b, "the other ServiceAccount never reads with A's store token");
    assertEquals(store.transports, 1, "one connection pool for one store address");
  });
});

Deno.test("StorePool: a token the store refuses fails only its own volume; the identity's other volume keeps reading", async () => {
  await withPool(["jwt-good"], async (p, store, warnings) => {
    await p.admit(identity(), "vol-1", "jwt-good", Date.now() + HOUR);
    const e = await assertRejects(
      () => p.admit(identity(), "vol-2", "jwt-stolen", Date.now() + 2 * HOUR),
      StoreError,
    );
    assertEquals(e.kind, "permission_denied");
    assertStringIncludes(e.message, "auth/kubernetes_local/login");
    assert(!e.message.includes("jwt-"), e.message);
    assertEquals((await p.read(identity(), SECRET, undefined)).data, { DB_PASS: "pw" });
    // A later login (the store token revoked) never tries the refused token.
    store.issued.clear();
    await p.read(identity(), SECRET, undefined);
    assertEquals(store.logins, ["jwt-good", "jwt-stolen", "jwt-good"]);
    assert(warnings.every((w) => !w.includes("jwt-")), warnings.join("\n"));
  });
});

Deno.test("StorePool: the same token for another role is another identity and must be accepted for it", async () => {
  await withPool(["jwt-a"], async (p, store) => {
    await p.admit(identity(), "vol-1", "jwt-a", Date.now() + HOUR);
    await assertRejects(
      () => p.admit(identity("myapp-sa", "admin-role"), "vol-2", "jwt-a", Date.now() + HOUR),
      StoreError,
    );
    await assertRejects(
      () => p.read(identity("myapp-sa", "admin-role"), SECRET, undefined),
      StoreError,
    );
    assertEquals(store.reads.length, 0, "nothing was read as admin-role");
  });
});

Deno.test("StorePool: concurrent reads after a revoked store token share one login", async () => {
  await withPool(["jwt-a"], async (p, store) => {
    await p.admit(identity(), "vol-1", "jwt-a", Date.now() + HOUR);
    await p.read(identity(), SECRET, undefined);
    store.issued.clear();
    store.logins.length = 0;
    await Promise.all(Array.from({ length: 20 }, () => p.read(identity(), SECRET, undefined)));
    assertEquals(store.logins, ["jwt-a"]);
  });
});

Deno.test("StorePool: a volume holds at most its newest and its last accepted token", async () => {
  await withPool(["jwt-0"], async (p, store) => {
    await p.admit(identity(), "vol-1", "jwt-0", Date.now() + HOUR);
    for (let i = 1; i <= 50; i++) p.offer(identity(), "vol-1", `jwt-${i}`, Date.now() + HOUR + i);
    store.issued.clear();
    store.logins.length = 0;
    await p.read(identity(), SECRET, undefined);
    // The newest offered (refused here) first, then the last accepted one: two tries, not 51.
    assertEquals(store.logins, ["jwt-50", "jwt-0"]);
  });
});

Deno.test("StorePool: a forgotten volume's tokens are gone; with none left a read names the wait, not a token", async () => {
  // Renewing long before the lease ends: every read needs a login.
  await withPool(["jwt-a"], async (p, store) => {
    await p.admit(identity(), "vol-1", "jwt-a", Date.now() + HOUR);
    await p.read(identity(), SECRET, undefined);
    p.forget("vol-1");
    store.issued.clear();
    const e = await assertRejects(() => p.read(identity(), SECRET, undefined), StoreError);
    assertStringIncludes(e.message, "no unexpired ServiceAccount token");
    assertEquals(store.logins, ["jwt-a", "jwt-a"], "no login was tried without a token");
  }, { renewBeforeMs: 2 * HOUR });
});

Deno.test("StorePool: a login that replaces another revokes the replaced store token", async () => {
  // Renewing long before expiry makes every read log in anew.
  await withPool(["jwt-a"], async (p, store) => {
    await p.admit(identity(), "vol-1", "jwt-a", Date.now() + HOUR);
    await p.read(identity(), SECRET, undefined);
    await p.read(identity(), SECRET, undefined);
    await p.revoked();
    assertEquals(store.logins.length, 3);
    assertEquals(store.revoked, ["s.1", "s.2"]);
    assertEquals([...store.issued], ["s.3"]);
  }, { renewBeforeMs: 2 * HOUR });
});

Deno.test("StorePool: an identity's last volume gone, its store token is revoked; another identity's stays", async () => {
  await withPool(["jwt-a", "jwt-b"], async (p, store) => {
    await p.admit(identity(), "vol-1", "jwt-a", Date.now() + HOUR);
    await p.admit(identity("other-sa"), "vol-2", "jwt-b", Date.now() + HOUR);
    const [a, b] = [...store.issued];
    p.forget("vol-1");
    p.retain(new Set([identityKey(identity("other-sa"))]));
    await p.revoked();
    assertEquals(store.revoked, [a]);
    assertEquals([...store.issued], [b]);
  });
});

Deno.test("StorePool: a login in flight as its identity's last volume goes away has its token revoked too", async () => {
  // Renewing long before expiry makes the read log in anew: that login is in flight when the
  // volume is unpublished.
  await withPool(["jwt-a"], async (p, store) => {
    await p.admit(identity(), "vol-1", "jwt-a", Date.now() + HOUR);
    const reading = p.read(identity(), SECRET, undefined);
    p.forget("vol-1");
    p.retain(new Set());
    await assertRejects(() => reading, StoreError);
    await p.revoked();
    assertEquals(store.logins.length, 2, "the rotation's login did reach the store");
    assertEquals(store.revoked, ["s.1", "s.2"]);
    assertEquals(store.issued.size, 0, "no store token is left");
  }, { renewBeforeMs: 2 * HOUR });
});

Deno.test("StorePool: volumes of one identity published at once leave one store token, every replaced one revoked", async () => {
  const jwts = Array.from({ length: 5 }, (_, i) => `jwt-${i}`);
  await withPool(jwts, async (p, store) => {
    await Promise.all(
      jwts.map((jwt, i) => p.admit(identity(), `vol-${i}`, jwt, Date.now() + HOUR)),
    );
    await p.revoked();
    assertEquals(store.logins.length, 5);
    assertEquals(store.revoked.length, 4);
    assertEquals(store.issued.size, 1, "only the token in use is live");
    await p.read(identity(), SECRET, undefined);
    assertEquals(store.reads, [...store.issued]);
  });
});

Deno.test("StorePool: shutdown revokes every store token it holds", async () => {
  await withPool(["jwt-a", "jwt-b"], async (p, store) => {
    await p.admit(identity(), "vol-1", "jwt-a", Date.now() + HOUR);
    await p.admit(identity("other-sa"), "vol-2", "jwt-b", Date.now() + HOUR);
    await p.shutdown(5_000);
    assertEquals(store.revoked.length, 2);
    assertEquals(store.issued.size, 0);
  });
});

Deno.test("StorePool: shutdown keeps the tokens of the identities it is told hold mounted dynamic secrets", async () => {
  await withPool(["jwt-a", "jwt-b"], async (p, store) => {
    await p.admit(identity(), "vol-1", "jwt-a", Date.now() + HOUR);
    await p.admit(identity("other-sa"), "vol-2", "jwt-b", Date.now() + HOUR);
    await p.shutdown(5_000, new Set([identityKey(identity("other-sa"))]));
    assertEquals([store.revoked.length, store.issued.size], [1, 1]);
  });
});

Deno.test("StorePool: with revokeTokens false, dropped store tokens are left to expire", async () => {
  await withPool(["jwt-a"], async (p, store) => {
    await p.admit(identity(), "vol-1", "jwt-a", Date.now() + HOUR);
    await p.read(identity(), SECRET, undefined);
    p.forget("vol-1");
    p.retain(new Set());
    await p.shutdown(5_000);
    assertEquals(store.revoked, []);
    assertEquals(store.issued.size, 2);
  }, { renewBeforeMs: 2 * HOUR, revokeTokens: false });
});

Deno.test("StorePool: each login is a new generation (a dynamic secret's lease ends with its token); a lease of an identity without a token is not revoked with none", async () => {
  await withPool(["jwt-a1", "jwt-a2"], async (p) => {
    assertEquals(p.generation(identity()), 0);
    p.revokeLease(identity(), "database/creds/app/x"); // no login: nothing to send it with
    await p.revoked();
    assertEquals(p.stats.revoked + p.stats.revokesFailed, 0);
    await p.admit(identity(), "vol-1", "jwt-a1", Date.now() + HOUR);
    assertEquals(await p.ensure(identity()), 1);
    await p.admit(identity(), "vol-2", "jwt-a2", Date.now() + HOUR);
    assertEquals(p.generation(identity()), 2);
    assertEquals(await p.ensure(identity()), 2, "no new login while the token is valid");
  });
});
