#!/usr/bin/env bash
# Builds what a real single-node Kubernetes needs besides etcd and kube-apiserver (build-kube.sh), for the
# end-to-end tests in tests/e2e/:
#   kubelet, kube-proxy, kube-scheduler,               k8s.io/kubernetes, pinned in tools/peers/node/k8s/go.mod
#   kube-controller-manager                            (same release and dependency set as tools/peers/kube)
#   containerd, containerd-shim-runc-v2, ctr           github.com/containerd/containerd/v2, tools/peers/node/containerd
#   cni/loopback                                       github.com/containernetworking/plugins, tools/peers/node/cni
# and installs from Debian what is not a Go module: runc (OCI runtime the shim calls), busybox-static (the
# test images' and the pod sandbox's root filesystem) and nftables (the nft command kube-proxy's nftables mode runs).
# Output: .peers/bin/<name> (and the CNI plugin as .peers/bin/cni/loopback). Each binary is rebuilt only when it is missing or its
# stamp (.peers/bin/.<name>-version: pin + Go version + hash of the harness go.mod/go.sum) changed; builds are
# also cached per user, keyed by the stamp (scripts/peers/_cached_build.sh). PEERS_FORCE_REBUILD=1 rebuilds.
# See tests/e2e/NOTES.md.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
node="$root/tools/peers/node"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOWORK=off
command -v go >/dev/null || { echo "build-node: go is required (PATH has no go)" >&2; exit 1; }
# shellcheck source=_cached_build.sh
source "$root/scripts/peers/_cached_build.sh"

pin() { # pin <go.mod> <module path> -> version from the require block
  awk -v m="$2" '$1 == m && $2 ~ /^v/ { print $2; exit }' "$1"
}
k8s=$(pin "$node/k8s/go.mod" k8s.io/kubernetes)
ctrd=$(pin "$node/containerd/go.mod" github.com/containerd/containerd/v2)
cni=$(pin "$node/cni/go.mod" github.com/containernetworking/plugins)
[ -n "$k8s" ] && [ -n "$ctrd" ] && [ -n "$cni" ] || { echo "build-node: pins not found in tools/peers/node/*/go.mod" >&2; exit 1; }
gover=$(go env GOVERSION)
start_all=$SECONDS

# build <name> <module dir> <pin line> <package> <ldflags> [tags]: one cached binary. The subshell is
# what lets cached_build_begin's "exit 0 when up to date" end only this binary's step.
build() {
  local name=$1 mod=$2 pinline=$3 pkg=$4 ldflags=$5 tags=${6:-}
  (
    cached_build_begin "$name" "$mod" "$pinline"
    echo "build-node: building $name ($pinline) with $gover ..."
    t=$SECONDS
    mkdir -p "$(dirname "$bin/$name")"
    go -C "$mod" build -mod=readonly -trimpath ${tags:+-tags "$tags"} -ldflags "$ldflags" -o "$bin/$name.tmp" "$pkg"
    cached_build_done "$name"
    echo "build-node: $name built in $((SECONDS - t))s"
  )
}

# --- Kubernetes node and control-plane components: the same version variables as build-kube.sh (as
# hack/lib/version.sh sets them); buildDate = the release's module timestamp, so builds are reproducible.
minor=${k8s#v1.}; minor=${minor%%.*}
date=$(go -C "$node/k8s" list -mod=readonly -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)
kld="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kld+=" -X $p.gitVersion=$k8s -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=$date"
done
for c in kubelet kube-proxy kube-scheduler kube-controller-manager; do
  build "$c" "$node/k8s" "kubernetes=$k8s" "k8s.io/kubernetes/cmd/$c" "$kld"
done

# --- containerd v2 (Kubernetes 1.36 supports containerd 2.2+/2.3+ only; Debian bookworm ships 1.6). Tags as
# upstream's Makefile: urfave_cli_no_docs everywhere, no_grpc for the shim. CGO off drops only the btrfs snapshotter.
cpkg=github.com/containerd/containerd/v2
cld="-s -w -X $cpkg/version.Version=$ctrd -X $cpkg/version.Package=$cpkg"
build containerd "$node/containerd" "containerd=$ctrd" "$cpkg/cmd/containerd" "$cld" urfave_cli_no_docs
build ctr "$node/containerd" "containerd=$ctrd" "$cpkg/cmd/ctr" "$cld" urfave_cli_no_docs
build containerd-shim-runc-v2 "$node/containerd" "containerd=$ctrd" "$cpkg/cmd/containerd-shim-runc-v2" "$cld" \
  "urfave_cli_no_docs no_grpc"

# --- CNI loopback plugin (all the node needs: test pods use hostNetwork).
ppkg=github.com/containernetworking/plugins
build cni-loopback "$node/cni" "cni-plugins=$cni" "$ppkg/plugins/main/loopback" \
  "-s -w -X $ppkg/pkg/utils/buildversion.BuildVersion=$cni"
# CNI runs plugins by their type name from a folder of their own.
mkdir -p "$root/.peers/bin/cni"
cmp -s "$root/.peers/bin/cni-loopback" "$root/.peers/bin/cni/loopback" ||
  cp -f "$root/.peers/bin/cni-loopback" "$root/.peers/bin/cni/loopback"

# --- Debian packages: runc (containerd-shim-runc-v2 runs it from PATH), busybox-static (image root filesystems),
# nftables (kube-proxy --proxy-mode=nftables programs the kernel through the nft command, sigs.k8s.io/knftables),
# strace (tests/csi_test.ts slows the driver's renames with it to kill it at chosen points of a publish).
missing=()
command -v strace >/dev/null || missing+=(strace)
command -v runc >/dev/null || missing+=(runc)
PATH="$PATH:/usr/sbin:/sbin" command -v nft >/dev/null || missing+=(nftables)
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q "ok installed" || missing+=(busybox-static)
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] && sudo="" || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "build-node: done in $((SECONDS - start_all))s: kubelet $k8s, containerd $ctrd, cni-plugins $cni, $(runc --version | head -1), $(PATH="$PATH:/usr/sbin:/sbin" nft --version)"
