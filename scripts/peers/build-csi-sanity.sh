#!/usr/bin/env bash
# Builds the CSI conformance tool csi-sanity for tests from the Go module proxy, at the version pinned in
# tools/peers/csi-sanity/go.mod (github.com/kubernetes-csi/csi-test/v5). Output: .peers/bin/csi-sanity,
# rebuilt only when it is missing or its stamp (.peers/bin/.csi-sanity-version: pin + Go version + hash of
# go.mod/go.sum) changed; builds are also cached per user, keyed by the stamp. Needs only Go (see the go
# line of go.mod); modules go to the default GOMODCACHE. PEERS_FORCE_REBUILD=1 rebuilds regardless.
# See tools/peers/csi-sanity/NOTES.md (why this pin: node-only drivers).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
mod="$root/tools/peers/csi-sanity"
name=csi-sanity
module=github.com/kubernetes-csi/csi-test/v5

export GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off
command -v go >/dev/null || { echo "build-csi-sanity: go is required (PATH has no go)" >&2; exit 1; }

ver=$(awk -v m="$module" '$1 == m && $2 ~ /^v/ { print $2; exit }' "$mod/go.mod")
[ -n "$ver" ] || { echo "build-csi-sanity: pin of $module not found in tools/peers/csi-sanity/go.mod" >&2; exit 1; }
gover=$(go env GOVERSION)
# shellcheck source=_cached_build.sh
source "$root/scripts/peers/_cached_build.sh"
cached_build_begin csi-sanity "$mod" "csi-test=$ver"

echo "build-csi-sanity: building csi-sanity $ver with $gover (cold: ~1 min on 2 cores) ..."
t=$SECONDS
# main.VERSION is what `csi-sanity -version` prints (upstream's Makefile targets a stale, non-v5 path).
go -C "$mod" build -mod=readonly -trimpath -ldflags "-s -w -X main.VERSION=$ver" -o "$bin/$name.tmp" "$module/cmd/csi-sanity"
cached_build_done "$name"
echo "build-csi-sanity: csi-sanity built in $((SECONDS - t))s: $("$bin/$name" -version)"
