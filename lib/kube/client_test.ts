import { z } from "zod";
import {
  assert,
  assertEquals,
  assertRejects,
  assertStringIncludes,
} from "../../tests/harness/assert.ts";
import { within } from "../../tests/harness/within.ts";
import { namespacedObjectPath, SECRETS } from "./api_path.ts";
import { KubeClient, KubeError, MAX_ANSWER } from "./client.ts";
import { endlessAnswer, withLocalServer } from "../../tests/harness/local_http.ts";

const PATH = namespacedObjectPath(
  SECRETS,
  { field: "namespace", value: "myapp-namespace" },
  { field: "name", value: "regcred" },
);
const Secret = z.object({ metadata: z.object({ name: z.string() }) });

/** Runs `fn` with a local API server stand-in; `seen` gets each request's authorization. */
function withServer(
  handler: (req: Request) => Response | Promise<Response>,
  fn: (url: string, seen: Array<string | null>) => Promise<void>,
): Promise<void> {
  const seen: Array<string | null> = [];
  return withLocalServer((req) => {
    seen.push(req.headers.get("authorization"));
    return handler(req);
  }, (origin) => fn(origin, seen));
}

const ok = () => Response.json({ metadata: { name: "regcred" } });

Deno.test("KubeClient.get() sends the bearer token and the path it was given, and parses the answer", async () => {
  let asked = "";
  await withServer((req) => {
    asked = new URL(req.url).pathname;
    return ok();
  }, async (url, seen) => {
    const c = new KubeClient({ server: url, token: "t0k3n" });
    try {
      assertEquals(await c.get(PATH, Secret), { metadata: { name: "regcred" } });
    } finally {
      c.close();
    }
    assertEquals(seen, ["Bearer t0k3n"]);
    assertEquals(asked, "/api/v1/namespaces/myapp-namespace/secrets/regcred");
  });
});

Deno.test("KubeClient.get() reads the token file on each call, so a rotated token is used", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const tokenFile = `${dir}/token`;
    await withServer(ok, async (url, seen) => {
      const c = new KubeClient({ server: url, tokenFile });
      try {
        Deno.writeTextFileSync(tokenFile, "first\n");
        await c.get(PATH, Secret);
        Deno.writeTextFileSync(tokenFile, "second");
        await c.get(PATH, Secret);
      } finally {
        c.close();
      }
      assertEquals(seen, ["Bearer first", "Bearer second"]);
    });
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("KubeClient.get() maps a non-2xx answer to a KubeError with its status, path and reason, never the token", async () => {
  const answers: Record<string, Response> = {
    404: Response.json({ kind: "Status", message: 'secrets "regcred" not found' }, {
      status: 404,
    }),
    403: Response.json({ kind: "Status", message: "forbidden: User cannot get" }, {
      status: 403,
    }),
    500: new Response("<html>proxy error</html>", { status: 500 }),
  };
  for (
    const [status, words] of [[404, "not found (HTTP 404)"], [403, "forbidden"], [
      500,
      "HTTP 500",
    ]] as const
  ) {
    await withServer(() => answers[status]!, async (url) => {
      const c = new KubeClient({ server: url, token: "t0k3n" });
      try {
        const e = await assertRejects(() => c.get(PATH, Secret), KubeError);
        assertEquals(e.status, status);
        assertStringIncludes(e.message, `GET ${PATH}`);
        assertStringIncludes(e.message, words);
        assert(!e.message.includes("t0k3n"), e.message);
      } finally {
        c.close();
      }
    });
  }
});

Deno.test("KubeClient.get() refuses an answer that is not JSON or not the expected shape with a KubeError", async () => {
  for (const body of ["<html>not json</html>", JSON.stringify({ metadata: { name: 7 } })]) {
    await withServer(() => new Response(body), async (url) => {
      const c = new KubeClient({ server: url });
      try {
        const e = await assertRejects(() => c.get(PATH, Secret), KubeError);
        assertStringIncludes(e.message, "unexpected answer");
        assertStringIncludes(e.message, PATH);
      } finally {
        c.close();
      }
    });
  }
});

Deno.test("KubeClient.get() refuses an oversized answer, with or without a Content-Length, without reading it all", async () => {
  const endless = endlessAnswer();
  const declared = () =>
    new Response(new Uint8Array(64 << 20), { headers: { "content-type": "application/json" } });
  for (const [what, answer] of [["chunked", endless.answer], ["declared", declared]] as const) {
    await withServer(answer, async (url) => {
      const c = new KubeClient({ server: url, timeoutMs: 30_000 });
      try {
        const e = await assertRejects(() => c.get(PATH, Secret), KubeError);
        assertStringIncludes(e.message, `answer larger than ${MAX_ANSWER} bytes`, what);
      } finally {
        c.close();
      }
    });
    const sent = endless.sent();
    assert(
      what === "declared" || endless.stoppedEarly(),
      `${what}: ${sent} bytes sent before the refusal`,
    );
  }
});

Deno.test("KubeClient.get() gives up at its deadline on a server that never answers, or stalls mid-body", async () => {
  const stalled = () =>
    new Response(
      new ReadableStream<Uint8Array>({
        start(c) {
          c.enqueue(new TextEncoder().encode('{"metadata":'));
        },
      }),
    );
  const never = () => new Promise<Response>(() => {});
  for (const [what, answer] of [["no answer", never], ["mid-body", stalled]] as const) {
    await withServer(answer, async (url) => {
      const c = new KubeClient({ server: url, timeoutMs: 200 });
      try {
        const e = await within(
          5000,
          `the client's own deadline (${what})`,
          assertRejects(() => c.get(PATH, Secret), KubeError),
        );
        assertEquals(e.status, 0, what);
        assertStringIncludes(e.message, `GET ${PATH}`, what);
      } finally {
        c.close();
      }
    });
  }
});
