#!/usr/bin/env bash
# The test command of the README and of CI: installs Deno and the real test servers
# (cached under git-ignored folders), then runs the gate: fmt, lint, type check, tests.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
deno=$(bash scripts/install-deno.sh)
bash scripts/peers/install.sh
"$deno" install --frozen --quiet
exec "$deno" task ok "$@"
