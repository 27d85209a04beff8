#!/usr/bin/env bash
# Builds a real kube-apiserver and etcd for tests from the Go module proxy, at the versions pinned in
# tools/peers/kube/go.mod (k8s.io/kubernetes) and tools/peers/etcd/go.mod (go.etcd.io/etcd/server/v3).
# Output: .peers/bin/kube-apiserver and .peers/bin/etcd. Each binary is rebuilt only when it is missing
# or its stamp (.peers/bin/.kube-version / .etcd-version: pins + Go version + hash of go.mod/go.sum)
# changed. Needs only Go (see the go lines of the two go.mod files); modules go to the default GOMODCACHE.
# PEERS_FORCE_REBUILD=1 rebuilds regardless of the stamps. See tools/peers/kube/NOTES.md.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
kube_mod="$root/tools/peers/kube"
etcd_mod="$root/tools/peers/etcd"
bin="$root/.peers/bin"

export GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off
command -v go >/dev/null || { echo "build-kube: go is required (PATH has no go)" >&2; exit 1; }

pin() { # pin <go.mod> <module path> -> version from the require block
  awk -v m="$2" '$1 == m && $2 ~ /^v/ { print $2; exit }' "$1"
}
k8s=$(pin "$kube_mod/go.mod" k8s.io/kubernetes)
etcd=$(pin "$etcd_mod/go.mod" go.etcd.io/etcd/server/v3)
[ -n "$k8s" ] && [ -n "$etcd" ] || { echo "build-kube: pins not found in tools/peers/{kube,etcd}/go.mod" >&2; exit 1; }
gover=$(go env GOVERSION)

stamp_for() { # stamp_for <module dir> <pin line>
  printf '%s\ngo=%s\nharness=%s\n' "$2" "$gover" "$(cat "$1/go.mod" "$1/go.sum" | sha256sum | cut -d' ' -f1)"
}
kube_stamp=$(stamp_for "$kube_mod" "kubernetes=$k8s")
etcd_stamp=$(stamp_for "$etcd_mod" "etcd=$etcd")

up_to_date() { # up_to_date <binary> <stamp file> <wanted stamp>
  [ "${PEERS_FORCE_REBUILD:-0}" != 1 ] && [ -x "$1" ] && [ -f "$2" ] && [ "$(cat "$2")" = "$3" ]
}

mkdir -p "$bin"
# Builds are also kept outside the checkout, so a fresh clone on the same machine (CI's) reuses
# them instead of rebuilding: keyed by the stamp, so a pin change never reuses an old binary.
cache="${SECRETS_STORE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/secrets-store}/peers"
mkdir -p "$cache"
cached() { # cached <name> <stamp> -> path of the cached binary for that stamp
  printf '%s/%s-%s' "$cache" "$1" "$(printf '%s' "$2" | sha256sum | cut -c1-16)"
}
restore() { # restore <name> <stamp file> <stamp>: copy a cached build in, if there is one
  local c; c=$(cached "$1" "$3")
  [ "${PEERS_FORCE_REBUILD:-0}" != 1 ] && [ -x "$c" ] || return 1
  cp "$c" "$bin/$1.tmp" && mv -f "$bin/$1.tmp" "$bin/$1" && printf '%s\n' "$3" > "$2"
  echo "build-kube: reused cached $1 ($c)"
}
save() { # save <name> <stamp>
  cp "$bin/$1" "$(cached "$1" "$2").tmp" && mv -f "$(cached "$1" "$2").tmp" "$(cached "$1" "$2")"
}
# Serialise concurrent callers (parallel test runs) so they do not build twice into the same path.
if command -v flock >/dev/null; then
  exec 9>"$bin/.build-kube.lock"
  flock 9
fi

if up_to_date "$bin/kube-apiserver" "$bin/.kube-version" "$kube_stamp" &&
   up_to_date "$bin/etcd" "$bin/.etcd-version" "$etcd_stamp"; then
  echo "build-kube: kube-apiserver $k8s and etcd $etcd are up to date in .peers/bin"
  [ -x "$(cached etcd "$etcd_stamp")" ] || save etcd "$etcd_stamp"
  [ -x "$(cached kube-apiserver "$kube_stamp")" ] || save kube-apiserver "$kube_stamp"
  exit 0
fi

start_all=$SECONDS

up_to_date "$bin/etcd" "$bin/.etcd-version" "$etcd_stamp" || restore etcd "$bin/.etcd-version" "$etcd_stamp" || true
up_to_date "$bin/kube-apiserver" "$bin/.kube-version" "$kube_stamp" ||
  restore kube-apiserver "$bin/.kube-version" "$kube_stamp" || true

if ! up_to_date "$bin/etcd" "$bin/.etcd-version" "$etcd_stamp"; then
  echo "build-kube: building etcd $etcd with $gover ..."
  t=$SECONDS
  rm -f "$bin/.etcd-version"
  # etcd's version string is a constant in go.etcd.io/etcd/api/v3/version; only GitSHA is an ldflag, and
  # the proxy does not tell us the commit, so it keeps its placeholder.
  go -C "$etcd_mod" build -mod=readonly -trimpath -ldflags "-s -w" -o "$bin/etcd.tmp" go.etcd.io/etcd/server/v3
  mv -f "$bin/etcd.tmp" "$bin/etcd"
  printf '%s\n' "$etcd_stamp" > "$bin/.etcd-version"
  save etcd "$etcd_stamp"
  echo "build-kube: etcd built in $((SECONDS - t))s: $("$bin/etcd" --version | head -1)"
fi

if ! up_to_date "$bin/kube-apiserver" "$bin/.kube-version" "$kube_stamp"; then
  echo "build-kube: building kube-apiserver $k8s with $gover (cold: ~5 min on 2 cores) ..."
  t=$SECONDS
  rm -f "$bin/.kube-version"
  minor=${k8s#v1.}; minor=${minor%%.*}
  # Same variables as hack/lib/version.sh sets (component-base and client-go). gitCommit stays unset: the
  # module proxy does not expose the commit. buildDate = the release's module timestamp (reproducible).
  date=$(go -C "$kube_mod" list -mod=readonly -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)
  ld="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $pkg.gitVersion=$k8s -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
  done
  go -C "$kube_mod" build -mod=readonly -trimpath -ldflags "$ld" -o "$bin/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver
  mv -f "$bin/kube-apiserver.tmp" "$bin/kube-apiserver"
  printf '%s\n' "$kube_stamp" > "$bin/.kube-version"
  save kube-apiserver "$kube_stamp"
  echo "build-kube: kube-apiserver built in $((SECONDS - t))s: $("$bin/kube-apiserver" --version)"
fi

echo "build-kube: done in $((SECONDS - start_all))s"
