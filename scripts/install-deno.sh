#!/usr/bin/env bash
# Installs the pinned Deno (tools/deno/package.json + package-lock.json) from
# the npm registry, and prints the path of the binary. Idempotent: a present,
# matching install is reused.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/tools/deno"
want=$(sed -n 's/.*"deno": "\([0-9.]*\)".*/\1/p' "$dir/package.json")
bin="$dir/node_modules/.bin/deno"
if [ -x "$bin" ] && "$bin" --version 2>/dev/null | head -1 | grep -q "deno $want "; then
  echo "$bin"
  exit 0
fi
command -v npm >/dev/null || { echo "install-deno: npm is required (Node.js) to fetch Deno $want" >&2; exit 1; }
# --ignore-scripts: the package ships the binary in an optional dependency; its
# postinstall only double-checks it.
(cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2)
"$bin" --version >/dev/null
echo "$bin"
