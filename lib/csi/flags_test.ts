import { assert, assertEquals, assertThrows } from "../../tests/harness/assert.ts";
import { checkCsiFlags, type CsiFlagValues } from "./flags.ts";

const GOOD: CsiFlagValues = {
  endpoint: "unix:///csi/csi.sock",
  nodeId: "node-1",
  stateDir: "/var/lib/secrets-store-csi",
  kubeletDir: "/var/lib/kubelet",
  rotationInterval: "2m",
  rotation: true,
  volumeSize: "4Mi",
  storeTimeout: "10s",
};

Deno.test("checkCsiFlags() parses the defaults", () => {
  assertEquals(checkCsiFlags(GOOD), {
    socket: "/csi/csi.sock",
    kubeletSocket: "/csi/csi.sock",
    rotationEveryMs: 120_000,
    storeTimeoutMs: 10_000,
    volumeBytes: 4 * 1024 * 1024,
  });
});

Deno.test("checkCsiFlags() takes folders with a trailing slash", () => {
  checkCsiFlags({ ...GOOD, kubeletDir: "/var/lib/kubelet/", stateDir: "/var/lib/x//" });
});

Deno.test("checkCsiFlags() refuses each bad flag, naming it", () => {
  const cases: Array<[Partial<CsiFlagValues>, string]> = [
    [
      { endpoint: "tcp://127.0.0.1:10000" },
      'Invalid --endpoint "tcp://127.0.0.1:10000": only unix sockets are served',
    ],
    [{ endpoint: "csi.sock" }, 'Invalid --endpoint "csi.sock": expected an absolute path'],
    [{ kubeletEndpoint: "tcp://x:1" }, 'Invalid --kubelet-endpoint "tcp://x:1"'],
    [
      { rotationInterval: "2 minutes" },
      'Invalid --rotation-interval: Cannot parse duration "2 minutes"',
    ],
    [
      { rotationInterval: "0s" },
      'Invalid --rotation-interval: Cannot parse duration "0s": must be at least 1ms',
    ],
    [{ rotationInterval: "1000h" }, 'Invalid --rotation-interval "1000h": at most 596h'],
    [{ storeTimeout: "x" }, "Invalid --store-timeout: Cannot parse duration"],
    [{ volumeSize: "4MB" }, 'Invalid --volume-size: Invalid size "4MB"'],
    [{ volumeSize: "0" }, 'Invalid --volume-size "0": expected from 4Ki'],
    [{ volumeSize: "8Gi" }, 'Invalid --volume-size "8Gi": expected from 4Ki'],
    [{ nodeId: "" }, "--node-id is required"],
    [{ nodeId: "Node_1/x" }, 'Invalid --node-id: "Node_1/x" is not a valid object name'],
    [{ stateDir: "state" }, 'Invalid --state-dir "state": expected an absolute path'],
    [{ kubeletDir: "/var/lib/../kubelet" }, 'Invalid --kubelet-dir "/var/lib/../kubelet"'],
    [{ registrationDir: "plugins_registry" }, 'Invalid --registration-dir "plugins_registry"'],
    [{ healthListen: "9808" }, 'Invalid --health-listen "9808": expected host:port'],
    [{ metricsListen: "0.0.0.0:99999" }, 'Invalid --metrics-listen "0.0.0.0:99999"'],
  ];
  for (const [over, want] of cases) {
    const e = assertThrows(() => checkCsiFlags({ ...GOOD, ...over }), TypeError);
    assert(e.message.startsWith(want), `${JSON.stringify(over)}: ${e.message}`);
  }
});
