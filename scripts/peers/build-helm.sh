#!/usr/bin/env bash
# Builds the helm CLI (v3) for tests from the Go module proxy, at the version pinned in tools/peers/helm/go.mod
# (helm.sh/helm/v3). Output: .peers/bin/helm, rebuilt only when it is missing or its stamp
# (.peers/bin/.helm-version: pin + Go version + hash of go.mod/go.sum) changed; builds are also cached per user,
# keyed by the stamp. Needs only Go (see the go line of go.mod); modules go to the default GOMODCACHE.
# PEERS_FORCE_REBUILD=1 rebuilds regardless. See tools/peers/helm/NOTES.md.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
mod="$root/tools/peers/helm"
name=helm
module=helm.sh/helm/v3

export GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off
command -v go >/dev/null || { echo "build-helm: go is required (PATH has no go)" >&2; exit 1; }

ver=$(awk -v m="$module" '$1 == m && $2 ~ /^v/ { print $2; exit }' "$mod/go.mod")
[ -n "$ver" ] || { echo "build-helm: pin of $module not found in tools/peers/helm/go.mod" >&2; exit 1; }
# Kubernetes version helm assumes without a cluster (.Capabilities.KubeVersion in template/lint, deprecation checks):
# upstream's Makefile derives it from client-go v0.X.Y → 1.X; unset, the source default is v1.20.0.
cgo=$(awk '$1 == "k8s.io/client-go" && $2 ~ /^v0\./ { print $2; exit }' "$mod/go.mod")
[ -n "$cgo" ] || { echo "build-helm: k8s.io/client-go not found in tools/peers/helm/go.mod" >&2; exit 1; }
k8s_minor=$(printf '%s' "$cgo" | cut -d. -f2)
gover=$(go env GOVERSION)
# shellcheck source=_cached_build.sh
source "$root/scripts/peers/_cached_build.sh"
cached_build_begin helm "$mod" "helm=$ver"

echo "build-helm: building helm $ver with $gover (cold: ~2 min on 2 cores) ..."
t=$SECONDS
# internal/version.version is what `helm version` prints (source default is only "v3.22"); the k8s pair is as upstream's
# Makefile sets it. The proxy gives no commit, so gitCommit stays empty; gitTreeState=clean as in a release build.
ldflags="-s -w -X $module/internal/version.version=$ver -X $module/internal/version.gitTreeState=clean"
for p in pkg/lint/rules pkg/chartutil; do
  ldflags+=" -X $module/$p.k8sVersionMajor=1 -X $module/$p.k8sVersionMinor=$k8s_minor"
done
go -C "$mod" build -mod=readonly -trimpath -ldflags "$ldflags" -o "$bin/$name.tmp" "$module/cmd/helm"
cached_build_done "$name"
echo "build-helm: helm built in $((SECONDS - t))s: $("$bin/$name" version --short)"
