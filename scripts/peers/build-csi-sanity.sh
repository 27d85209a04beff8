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
bin="$root/.peers/bin"
name=csi-sanity
module=github.com/kubernetes-csi/csi-test/v5

export GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off
command -v go >/dev/null || { echo "build-csi-sanity: go is required (PATH has no go)" >&2; exit 1; }

ver=$(awk -v m="$module" '$1 == m && $2 ~ /^v/ { print $2; exit }' "$mod/go.mod")
[ -n "$ver" ] || { echo "build-csi-sanity: pin of $module not found in tools/peers/csi-sanity/go.mod" >&2; exit 1; }
gover=$(go env GOVERSION)
stamp=$(printf 'csi-test=%s\ngo=%s\nharness=%s\n' "$ver" "$gover" \
  "$(cat "$mod/go.mod" "$mod/go.sum" | sha256sum | cut -d' ' -f1)")
stamp_file="$bin/.csi-sanity-version"

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
  exec 9>"$bin/.build-csi-sanity.lock"
  flock 9
fi

if up_to_date; then
  echo "build-csi-sanity: csi-sanity $ver is up to date in .peers/bin"
  [ -x "$cached" ] || save
  exit 0
fi

if [ "${PEERS_FORCE_REBUILD:-0}" != 1 ] && [ -x "$cached" ]; then
  cp "$cached" "$bin/$name.tmp" && mv -f "$bin/$name.tmp" "$bin/$name"
  printf '%s\n' "$stamp" > "$stamp_file"
  echo "build-csi-sanity: reused cached csi-sanity ($cached)"
  exit 0
fi

echo "build-csi-sanity: building csi-sanity $ver with $gover (cold: ~1 min on 2 cores) ..."
t=$SECONDS
rm -f "$stamp_file"
# main.VERSION is what `csi-sanity -version` prints (upstream's Makefile targets a stale, non-v5 path).
go -C "$mod" build -mod=readonly -trimpath -ldflags "-s -w -X main.VERSION=$ver" -o "$bin/$name.tmp" "$module/cmd/csi-sanity"
mv -f "$bin/$name.tmp" "$bin/$name"
printf '%s\n' "$stamp" > "$stamp_file"
save
echo "build-csi-sanity: csi-sanity built in $((SECONDS - t))s: $("$bin/$name" -version)"
