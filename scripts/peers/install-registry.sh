#!/usr/bin/env bash
# Installs the real OCI registry the tests push images to (Debian's docker-registry, the CNCF
# distribution v2 server) and htpasswd (apache2-utils) for its bcrypt password file.
# Reuses what is installed; refreshes the package lists only when something is missing.
set -euo pipefail
if [ -x /usr/bin/docker-registry ] && command -v htpasswd >/dev/null; then
  exit 0
fi
[ "$(id -u)" = 0 ] && sudo="" || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends docker-registry apache2-utils >/dev/null
/usr/bin/docker-registry --version
