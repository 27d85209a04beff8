#!/usr/bin/env bash
# Installs every real server the tests run against, reusing cached builds in .peers/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bash "$here/install-bao.sh"
bash "$here/build-kube.sh"
bash "$here/build-node.sh"
bash "$here/install-registry.sh"
bash "$here/install-postgres.sh"
bash "$here/build-csi-sanity.sh"
bash "$here/build-helm.sh"
bash "$here/install-prometheus.sh"
