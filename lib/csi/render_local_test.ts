import { assertEquals, assertRejects, assertStringIncludes } from "../../tests/harness/assert.ts";
import { StoreError } from "../vault/errors.ts";
import type { Secret } from "../vault/client.ts";
import type { StorePath } from "../config/store_path.ts";
import { renderLocal } from "./render_local.ts";
import { FilePlanError } from "./plan.ts";

const STORE: Record<string, Record<string, unknown>> = {
  "db/data/app": { user: "app", pass: "hunter2" },
  "cache/data/redis#3": { url: "redis://r" },
};

function read(path: StorePath, version: number | undefined): Promise<Secret> {
  const id = version === undefined ? path : `${path}#${version}`;
  const data = STORE[id];
  if (!data) {
    return Promise.reject(
      new StoreError("not_found", `no entry "${id}" in the store file`, {
        address: "file",
        operation: "read",
        path,
        version,
      }),
    );
  }
  return Promise.resolve({ path, version, kv: 2, data });
}

const SSI = `
apiVersion: deckhouse.io/v1alpha1
kind: SecretsStoreImport
metadata: {name: app}
spec:
  type: CSI
  role: r
  files:
    - name: app.conf
      sources: {db: {path: db/data/app}, cache: {path: cache/data/redis, version: 3}}
      template: "user=\${.db.user}\\npass=\${.db.pass | quote}\\ncache=\${.cache.url}\\n"
    - name: all.yaml
      source: {path: db/data/app}
      format: yaml
    - name: key
      source: {path: db/data/app, key: pass}
      mode: "0400"
`;

async function lines(text: string, showValues: boolean, fsGroup?: string): Promise<string[]> {
  const out: string[] = [];
  await renderLocal({
    text,
    file: "ssi.yaml",
    read,
    showValues,
    fsGroup,
    print: (l) => out.push(l),
  });
  return out;
}

Deno.test("renderLocal() shows each file masked: template text, whole-secret keys, modes", async () => {
  assertEquals(await lines(SSI, false), [
    "--- app.conf (mode 0444, template over db=db/data/app, cache=cache/data/redis)",
    "user=********\npass=********\ncache=********",
    "--- all.yaml (mode 0444, db/data/app as yaml)",
    'user: "********"\npass: "********"',
    "--- key (mode 0400, db/data/app#pass)",
    "********",
  ]);
});

Deno.test("renderLocal() --show-values prints the files as the driver writes them", async () => {
  const out = await lines(SSI, true, "2000");
  assertEquals(
    out[0],
    "--- app.conf (mode 0440, 40 bytes, template over db=db/data/app, cache=cache/data/redis)",
  );
  assertEquals(out[1], 'user=app\npass="hunter2"\ncache=redis://r');
  assertEquals(out[5], "hunter2");
});

Deno.test("renderLocal() fails naming the file, field or template position, never a value", async () => {
  const bad = SSI.replace("${.db.user}", "${.db.nope}");
  const e = await assertRejects(() => lines(bad, false), FilePlanError);
  assertStringIncludes(
    e.message,
    'SecretsStoreImport default/app, file "app.conf": at 1:12: no field "nope"',
  );
  const syntax = SSI.replace("${.db.user}", "${.db.user | env}");
  const s = await assertRejects(() => lines(syntax, false), TypeError);
  assertStringIncludes(
    s.message,
    'ssi.yaml is not a valid SecretsStoreImport: spec.files.0.template: file "app.conf": at 1:19: unknown function "env"',
  );
  const missing = SSI.replace("cache/data/redis, version: 3", "cache/data/redis");
  const m = await assertRejects(() => lines(missing, false), StoreError);
  assertStringIncludes(m.message, 'no entry "cache/data/redis"');
  const g = await assertRejects(() => lines(SSI, false, "-1"), TypeError);
  assertStringIncludes(g.message, '--fs-group "-1" is not a group id');
  for (const err of [e, s, m]) assertEquals(err.message.includes("hunter2"), false);
});

Deno.test("the shipped example renders against the shipped store file", async () => {
  const { parse } = await import("yaml");
  const root = new URL("../../examples/", import.meta.url);
  const store = parse(await Deno.readTextFile(new URL("local-store.yaml", root))) as Record<
    string,
    Record<string, unknown>
  >;
  const out: string[] = [];
  await renderLocal({
    file: new URL("template-ssi.yaml", root).pathname,
    read: (path, version) =>
      Promise.resolve({
        path,
        version,
        kv: 2,
        data: store[version ? `${path}#${version}` : path]!,
      }),
    showValues: true,
    print: (l) => out.push(l),
  });
  assertStringIncludes(out.join("\n"), "url: postgresql://username:secret-password@db:5432/app");
});
