import { assertEquals, assertStringIncludes, assertThrows } from "../../tests/harness/assert.ts";
import { parseWebhookSettings } from "./settings.ts";

Deno.test("parseWebhookSettings() applies DiscoverLocalStronghold and registry defaults", () => {
  const s = parseWebhookSettings("injector:\n  image: r/secrets-store:1\n", "webhook.yaml");
  assertEquals(s.connectionConfiguration, "DiscoverLocalStronghold");
  assertEquals(s.injector, {
    image: "r/secrets-store:1",
    imagePullPolicy: "IfNotPresent",
    delivery: "copy",
    // The module's default skip list, for users who migrate from it.
    skipContainers: ["istio-proxy", "istio-init", "istio-validation", "check-linux-kernel"],
    // The store token is no app's unless the installation says so.
    allowLoginToken: false,
    revokeToken: true,
  });
  assertEquals(s.registry, {
    platform: "linux/amd64",
    plainHttp: [],
    cacheTtl: "5m",
    timeout: "2s",
  });
  // maxConnections, bodyBudgetMiB, then the handshake, head, body and idle timeouts.
  assertEquals(Object.values(s.limits), [1000, 64, "5s", "10s", "30s", "120s"]);
});

Deno.test("parseWebhookSettings() reads the guide's Manual connection", () => {
  const s = parseWebhookSettings(
    [
      "connectionConfiguration: Manual",
      "connection:",
      '  url: "https://secretstoreexample.com"',
      '  authPath: "main-kube"',
      "  caCert: |",
      "    -----BEGIN CERTIFICATE-----",
      "    MIIB",
      "    -----END CERTIFICATE-----",
      "injector: {image: x}",
    ].join("\n"),
    "webhook.yaml",
  );
  assertEquals([s.connection.url, s.connection.authPath], [
    "https://secretstoreexample.com",
    "main-kube",
  ]);
});

Deno.test("parseWebhookSettings() names every bad setting and the file", () => {
  const cases: Array<[string, string]> = [
    [
      "connectionConfiguration: Manual\ninjector: {image: x}",
      "connection.url: is required with connectionConfiguration: Manual",
    ],
    [
      "connectionConfiguration: Manual\nconnection: {url: 'http://plain'}\ninjector: {image: x}",
      "connection.url",
    ],
    ["connection: {caCert: 'not a pem'}\ninjector: {image: x}", "connection.caCert"],
    ["connectionConfiguration: Auto\ninjector: {image: x}", "connectionConfiguration"],
    ["{}", "injector"],
    ["injector: {image: x}\nregistry: {cacheTtl: forever}", "registry.cacheTtl"],
    ["injector: {image: x}\nregistry: {platform: amd64}", "registry.platform"],
    ["injector: {image: x}\ntypo: 1", "typo"],
    ["injector: {image: x, revokeToken: 'no'}", "injector.revokeToken"],
    ["injector: {image: x}\nlimits: {maxConnections: 0}", "limits.maxConnections"],
    ["injector: {image: x}\nlimits: {bodyBudgetMiB: 1}", "limits.bodyBudgetMiB"],
    ["injector: {image: x}\nlimits: {headTimeout: soon}", "limits.headTimeout"],
    ["injector: {image: x}\nlimits: {maxConections: 5}", "maxConections"],
    ["injector: [", "Cannot parse webhook.yaml"],
  ];
  for (const [yaml, part] of cases) {
    const e = assertThrows(() => parseWebhookSettings(yaml, "webhook.yaml"), TypeError);
    assertStringIncludes(e.message, "webhook.yaml");
    assertStringIncludes(e.message, part);
  }
});

Deno.test("parseWebhookSettings() takes another skip list, an empty one included", () => {
  const s = parseWebhookSettings(
    "injector:\n  image: r/s:1\n  skipContainers: [linkerd-proxy]\n",
    "webhook.yaml",
  );
  assertEquals(s.injector.skipContainers, ["linkerd-proxy"]);
  const none = parseWebhookSettings("injector:\n  image: r/s:1\n  skipContainers: []\n", "w");
  assertEquals(none.injector.skipContainers, []);
  const e = assertThrows(
    () => parseWebhookSettings('injector:\n  image: r/s:1\n  skipContainers: [""]\n', "w"),
    TypeError,
  );
  assertStringIncludes(e.message, "skipContainers");
});

Deno.test("parseWebhookSettings() takes injector.allowLoginToken as a boolean only", () => {
  const on = parseWebhookSettings("injector:\n  image: r/s:1\n  allowLoginToken: true\n", "w");
  assertEquals(on.injector.allowLoginToken, true);
  const e = assertThrows(
    () => parseWebhookSettings('injector:\n  image: r/s:1\n  allowLoginToken: "yes"\n', "w"),
    TypeError,
  );
  assertStringIncludes(e.message, "allowLoginToken");
});
