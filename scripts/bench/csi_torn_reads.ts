/** Measurement, not a test: on a real tmpfs, this process rotates one file while a reader in
 * another process (python3) counts the reads that return neither the old nor the new value.
 * In place (updateFiles, and the bare write inside it, whose window it times) against the
 * obvious in-place writer (write, then truncate) and a rename-based writer (writeFiles), with
 * values of different and of equal lengths; the reader reads in a tight loop, or as the usage
 * guide's app does, on each IN_MODIFY of a watch on the file. Needs root. Results and
 * conclusions: docs/csi-rotation-writes.md.
 * Run: deno run -A scripts/bench/csi_torn_reads.ts [seconds-per-case] [max-rewrites-per-case] */
import { writeFiles } from "../../lib/csi/files.ts";
import { rewriteInPlace, updateFiles } from "./in_place_writer.ts";
import { mountTmpfs, unmount } from "../../lib/csi/mount.ts";

const seconds = Number(Deno.args[0] ?? 10);
const maxRewrites = Number(Deno.args[1] ?? 100_000_000);

/** Reads the file with one read(2) of up to 4 KiB per open, as a small app reads a secret:
 * in a tight loop ("loop"), or, as the usage guide's example does, each time a watch on the
 * file itself reports IN_MODIFY ("inotify"). Torn reads are kept as run-lengths ("16xA+24xB"),
 * which is all there is to tell apart with these values. */
const READER = String.raw`
import ctypes, json, os, select, sys
mode, path, stop, a, b = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].encode(), sys.argv[5].encode()
reads = torn = events = 0
kinds = {}
def shape(data):
    out, i = [], 0
    while i < len(data):
        j = i
        while j < len(data) and data[j] == data[i]: j += 1
        c = chr(data[i]) if 32 < data[i] < 127 else "\\x%02x" % data[i]
        out.append("%dx%s" % (j - i, c))
        i = j
    return "+".join(out) or "empty"
def check():
    global reads, torn
    fd = os.open(path, os.O_RDONLY)
    data = os.read(fd, 4096)
    os.close(fd)
    reads += 1
    if data != a and data != b:
        torn += 1
        k = shape(data)
        kinds[k] = kinds.get(k, 0) + 1
if mode == "inotify":
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    ifd = libc.inotify_init1(0)
    if ifd < 0 or libc.inotify_add_watch(ifd, path.encode(), 0x2) < 0: sys.exit("inotify failed")
    print("ready", flush=True)
    while not os.path.exists(stop):
        if not select.select([ifd], [], [], 0.1)[0]: continue
        os.read(ifd, 4096)
        events += 1
        check()
else:
    print("ready", flush=True)
    while not os.path.exists(stop):
        for _ in range(2000): check()
print(json.dumps({"reads": reads, "torn": torn, "events": events, "kinds": kinds}), flush=True)
`;

type Writer = "updateFiles" | "rewriteInPlace" | "writeThenTruncate" | "rename";

interface Case {
  writer: Writer;
  a: string;
  b: string;
  reader: "loop" | "inotify";
  /** Milliseconds between rewrites; none: as fast as possible. */
  paceMs?: number;
}

interface Result extends Case {
  rewrites: number;
  reads: number;
  torn: number;
  /** For the inotify reader: wake-ups with at least one IN_MODIFY. */
  events: number;
  kinds: Record<string, number>;
  /** Duration of each call of the writer, in microseconds. */
  callUs: number[];
  /** rewriteInPlace's own measure, from before its first write to after its last syscall, in
   * µs, for values getting shorter (pwrite + ftruncate) and not (pwrite alone). */
  shrinkUs: number[];
  growUs: number[];
}

const A16 = "A".repeat(16);
const B40 = "B".repeat(40);
const C40 = "C".repeat(40);
const D40 = "D".repeat(40);
const CASES: Case[] = [
  { writer: "updateFiles", a: A16, b: B40, reader: "loop" },
  { writer: "updateFiles", a: C40, b: D40, reader: "loop" },
  { writer: "rewriteInPlace", a: A16, b: B40, reader: "loop" },
  { writer: "rewriteInPlace", a: C40, b: D40, reader: "loop" },
  { writer: "writeThenTruncate", a: A16, b: B40, reader: "loop" },
  { writer: "rename", a: A16, b: B40, reader: "loop" },
  { writer: "rename", a: C40, b: D40, reader: "loop" },
  { writer: "updateFiles", a: A16, b: B40, reader: "inotify", paceMs: 1 },
  { writer: "writeThenTruncate", a: A16, b: B40, reader: "inotify", paceMs: 1 },
  { writer: "rename", a: A16, b: B40, reader: "inotify", paceMs: 1 },
];

const base = await Deno.makeTempDir({ prefix: "csi-torn-reads-" });
const vol = `${base}/vol`;
await Deno.mkdir(vol);
mountTmpfs(vol, { sizeBytes: 1 << 20 });
const results: Result[] = [];
try {
  for (const c of CASES) results.push(await runCase(c));
} finally {
  unmount(vol);
  await Deno.remove(base, { recursive: true });
}
report(results);

async function runCase(c: Case): Promise<Result> {
  const name = "db-password";
  const path = `${vol}/${name}`;
  const stop = `${base}/stop`;
  await Deno.remove(stop).catch(() => {});
  await Deno.remove(path).catch(() => {});
  const own = { mode: 0o444 };
  const values = [c.a, c.b].map((v) => [{ name, bytes: new TextEncoder().encode(v) }]);
  writeFiles(vol, values[0]!, own);

  const reader = new Deno.Command("python3", {
    args: ["-c", READER, c.reader, path, stop, c.a, c.b],
    stdout: "piped",
  }).spawn();
  const lines = readLines(reader.stdout);
  if ((await lines.next()).value !== "ready") throw new Error("the reader did not start");

  const callUs: number[] = [];
  const shrinkUs: number[] = [];
  const growUs: number[] = [];
  let rewrites = 0;
  const deadline = performance.now() + seconds * 1000;
  while (rewrites < maxRewrites && performance.now() < deadline) {
    const prev = values[rewrites % 2]![0]!;
    const next = values[(rewrites + 1) % 2]!;
    const t0 = performance.now();
    if (c.writer === "updateFiles") {
      if (updateFiles(vol, next, own).length !== 1) throw new Error("nothing rewritten");
    } else if (c.writer === "rewriteInPlace") {
      const window = rewriteInPlace(path, next[0]!.bytes) * 1000;
      (next[0]!.bytes.length < prev.bytes.length ? shrinkUs : growUs).push(window);
    } else if (c.writer === "writeThenTruncate") {
      writeThenTruncate(path, next[0]!.bytes);
    } else {
      writeFiles(vol, next, own);
    }
    callUs.push((performance.now() - t0) * 1000);
    rewrites++;
    if (c.paceMs) await new Promise((r) => setTimeout(r, c.paceMs));
  }
  await Deno.writeTextFile(stop, "");
  const out = JSON.parse((await lines.next()).value ?? "{}");
  await reader.status;
  return { ...c, ...out, rewrites, callUs, shrinkUs, growUs };
}

/** The obvious in-place writer, for comparison: write at offset 0, then truncate when shorter;
 * both syscalls send IN_MODIFY. */
function writeThenTruncate(path: string, bytes: Uint8Array): void {
  using file = Deno.openSync(path, { write: true });
  const size = file.statSync().size;
  for (let done = 0; done < bytes.length;) done += file.writeSync(bytes.subarray(done));
  if (bytes.length < size) file.truncateSync(bytes.length);
}

async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buf = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      yield buf.slice(0, nl);
      buf = buf.slice(nl + 1);
    }
  }
}

/** p50 / p99 / max of microsecond samples. */
function us(xs: number[]): string {
  if (!xs.length) return "-";
  const s = Float64Array.from(xs).sort();
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
  return `${q(0.5).toFixed(2)} / ${q(0.99).toFixed(2)} / ${s[s.length - 1]!.toFixed(0)}`;
}

function report(rs: Result[]): void {
  const kernel = Deno.readTextFileSync("/proc/sys/kernel/osrelease").trim();
  console.log(
    `Deno ${Deno.version.deno}, Linux ${kernel}, ${navigator.hardwareConcurrency} CPUs, ` +
      `${seconds} s per case; the reader is python3 (open, read, close)\n`,
  );
  console.log(
    "| writer | lengths | reader | rewrites | reads | torn reads | torn per million rewrites " +
      "| call µs p50 / p99 / max | window µs, shrinking | window µs, same or longer |",
  );
  console.log("|---|---|---|---|---|---|---|---|---|---|");
  for (const r of rs) {
    const reader = r.reader === "loop"
      ? "tight loop"
      : `on IN_MODIFY (${r.events} wake-ups), 1 rewrite/${r.paceMs} ms`;
    console.log(
      `| ${r.writer} | ${r.a.length}↔${r.b.length} | ${reader} | ${r.rewrites} | ${r.reads} | ` +
        `${r.torn} | ${(r.torn / r.rewrites * 1e6).toFixed(0)} | ${us(r.callUs)} | ` +
        `${us(r.shrinkUs)} | ${us(r.growUs)} |`,
    );
  }
  console.log("\nTorn reads by shape (run-lengths of the bytes read):");
  for (const r of rs) {
    const kinds = Object.entries(r.kinds).sort((x, y) => y[1] - x[1]);
    if (kinds.length) {
      console.log(
        `- ${r.writer} ${r.a.length}↔${r.b.length}, ${r.reader}: ` +
          kinds.map(([k, n]) => `${k} (${n})`).join(", "),
      );
    }
  }
}
