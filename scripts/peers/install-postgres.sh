#!/usr/bin/env bash
# Installs the real PostgreSQL server the lease tests give OpenBao's database engine, so its
# dynamic credentials are real roles (Debian's postgresql: initdb, postgres, psql).
# Reuses what is installed; refreshes the package lists only when something is missing.
set -euo pipefail
if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null &&
  compgen -G "/usr/lib/postgresql/*/bin/psql" >/dev/null; then
  exit 0
fi
[ "$(id -u)" = 0 ] && sudo="" || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
ls /usr/lib/postgresql/*/bin/postgres
