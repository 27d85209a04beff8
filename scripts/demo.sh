#!/usr/bin/env bash
# The main job of the README: a local demo that needs no cluster and no store server.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
deno=$(bash scripts/install-deno.sh)
"$deno" install --frozen --quiet
exec "$deno" task demo "$@"
