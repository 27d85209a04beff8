import { assertEquals } from "../../tests/harness/assert.ts";
import { templatesWithoutRole, unknownAnnotations } from "./hints.ts";

const A = "secrets-store.deckhouse.io/";

Deno.test("unknownAnnotations() names a misspelt annotation and the one meant", () => {
  assertEquals(unknownAnnotations({ [`${A}env-form-path`]: "demo-kv/data/x", [`${A}role`]: "r" }), [
    {
      reason: "UnknownAnnotation",
      message:
        `annotation "${A}env-form-path" is not one of secrets-store's (did you mean ${A}env-from-path?); it is ignored`,
    },
  ]);
  assertEquals(
    unknownAnnotations({ [`${A}rol`]: "r" })[0]!.message.includes(`did you mean ${A}role?`),
    true,
  );
});

Deno.test("unknownAnnotations() passes known annotations, the injected marker and other prefixes", () => {
  assertEquals(
    unknownAnnotations({
      [`${A}role`]: "r",
      [`${A}injected`]: "0.1.0; delivery=copy",
      "vault.hashicorp.com/role": "x",
      "secrets-store.deckhouse.io.other/x": "y",
    }),
    [],
  );
});

Deno.test("unknownAnnotations() names a far-off name without a guess, and at most five", () => {
  assertEquals(
    unknownAnnotations({ [`${A}completely-different`]: "x" })[0]!.message,
    `annotation "${A}completely-different" is not one of secrets-store's; it is ignored`,
  );
  const many = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`${A}x${i}`, ""]));
  assertEquals(unknownAnnotations(many).length, 5);
});

Deno.test("unknownAnnotations() and templatesWithoutRole() tolerate any shape", () => {
  for (
    const v of [undefined, null, 1, "x", [], { containers: "x" }, {
      containers: [null, 1, { env: "x" }],
    }]
  ) {
    assertEquals(unknownAnnotations(v), []);
    assertEquals(templatesWithoutRole(v), []);
  }
});

Deno.test("templatesWithoutRole() names the containers whose env holds a template", () => {
  const spec = {
    initContainers: [{ name: "migrate", env: [{ name: "P", value: "secrets-store:kv/data/x#P" }] }],
    containers: [
      { name: "app", env: [{ name: "A", value: "plain" }] },
      { name: "web", env: [{ name: "B", value: "secrets-store:kv/data/y#B" }] },
    ],
  };
  const [hint] = templatesWithoutRole(spec);
  assertEquals(hint!.reason, "TemplatesWithoutRole");
  assertEquals(
    hint!.message,
    `container "migrate", "web" has secrets-store: templates in env, but the Pod has no ${A}role annotation: nothing is injected and the app sees the templates as they are`,
  );
  // The value is never in the message: a template is a path, but a plain value could be anything.
  assertEquals(
    templatesWithoutRole({ containers: [{ name: "app", env: [{ name: "A", value: "hunter2" }] }] }),
    [],
  );
});
