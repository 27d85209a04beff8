#!/usr/bin/env bash
# Installs Debian's Prometheus server and promtool, which tests/metrics_test.ts runs on
# 127.0.0.1 to scrape the webhook and the CSI driver. The package's own service is not wanted:
# the test starts its own server with a generated configuration, so a service start that the
# package tries (where an init system runs) is refused through policy-rc.d for this install.
# Reuses what is installed; refreshes the package lists only when something is missing.
set -euo pipefail
if [ -x /usr/bin/prometheus ] && [ -x /usr/bin/promtool ]; then
  exit 0
fi
[ "$(id -u)" = 0 ] && sudo="" || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
policy=/usr/sbin/policy-rc.d
added=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod 755 "$policy"
  added=1
fi
trap '[ -z "$added" ] || $sudo rm -f "$policy"' EXIT
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
/usr/bin/prometheus --version 2>&1 | head -1
