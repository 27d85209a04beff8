#!/usr/bin/env bash
# Builds the helm CLI (v3) for tests from the Go module proxy, at the version pinned in tools/peers/helm/go.mod
# (helm.sh/helm/v3). Output: .peers/bin/helm, rebuilt only when it is missing or its stamp
# (.peers/bin/.helm-version: pin + Go version + hash of go.mod/go.sum) changed; builds are also cached per user,
# keyed by the stamp. Needs only Go (see the go line of go.mod); modules go to the default GOMODCACHE.
# PEERS_FORCE_REBUILD=1 rebuilds regardless. See tools/peers/helm/NOTES.md.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
mod="$root/tools/peers/helm"
bin="$root/.peers/bin"
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
stamp=$(printf 'helm=%s\ngo=%s\nharness=%s\n' "$ver" "$gover" \
  "$(cat "$mod/go.mod" "$mod/go.sum" | sha256sum | cut -d' ' -f1)")
stamp_file="$bin/.helm-version"

up_to_date() {
  [ "${PEERS_FORCE_REBUILD:-0}" != 1 ] && [ -x "$bin/$name" ] && [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ]
}

mkdir -p "$bin"
# Builds are also kept outside the checkout, so a fresh clone on the same machine (CI's) reuses
# them instead of rebuilding: keyed by the stamp, so a pin change never reuses an old binary.
cache="${SECRETS_STORE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/secrets-store}/peers"
mkdir -p "$cache"
cached="$cache/$name-$(printf '%s' "$stamp" | sha256sum | cut -c1-16)"
save() { cp "$bin/$name" "$cached.tmp" && mv -f "$cached.tmp" "$cached"; }

# Serialise concurrent callers (parallel test runs) so they do not build twice into the same path.
if command -v flock >/dev/null; then
  exec 9>"$bin/.build-helm.lock"
  flock 9
fi

if up_to_date; then
  echo "build-helm: helm $ver is up to date in .peers/bin"
  [ -x "$cached" ] || save
  exit 0
fi

if [ "${PEERS_FORCE_REBUILD:-0}" != 1 ] && [ -x "$cached" ]; then
  cp "$cached" "$bin/$name.tmp" && mv -f "$bin/$name.tmp" "$bin/$name"
  printf '%s\n' "$stamp" > "$stamp_file"
  echo "build-helm: reused cached helm ($cached)"
  exit 0
fi

echo "build-helm: building helm $ver with $gover (cold: ~2 min on 2 cores) ..."
t=$SECONDS
rm -f "$stamp_file"
# internal/version.version is what `helm version` prints (source default is only "v3.22"); the k8s pair is as upstream's
# Makefile sets it. The proxy gives no commit, so gitCommit stays empty; gitTreeState=clean as in a release build.
ldflags="-s -w -X $module/internal/version.version=$ver -X $module/internal/version.gitTreeState=clean"
for p in pkg/lint/rules pkg/chartutil; do
  ldflags+=" -X $module/$p.k8sVersionMajor=1 -X $module/$p.k8sVersionMinor=$k8s_minor"
done
go -C "$mod" build -mod=readonly -trimpath -ldflags "$ldflags" -o "$bin/$name.tmp" "$module/cmd/helm"
mv -f "$bin/$name.tmp" "$bin/$name"
printf '%s\n' "$stamp" > "$stamp_file"
save
echo "build-helm: helm built in $((SECONDS - t))s: $("$bin/$name" version --short)"
