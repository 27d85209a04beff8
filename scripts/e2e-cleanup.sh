#!/usr/bin/env bash
# Removes what an interrupted e2e run (tests/e2e/cluster.ts) left on this machine: its
# processes, containers, mounts, cgroups, the sse2e0 interface and kube-proxy's nftables
# tables. A finished run leaves nothing; this is for a run killed half-way (Ctrl-C, timeout).
# Run as root. Touches only what the e2e cluster creates.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
pkill -f "tests/run.ts tests/e2e" ; pkill -f "deno test .*tests/e2e"
for p in kubelet kube-proxy kube-scheduler kube-controller-manager kube-apiserver containerd etcd bao; do
  pkill -f "$root/.peers/bin/$p"
done
pkill -f docker-registry
sleep 1
runc_root=/run/containerd/runc/k8s.io
for id in $(runc --root "$runc_root" list -q 2>/dev/null); do
  runc --root "$runc_root" kill --all "$id" KILL 2>/dev/null
  runc --root "$runc_root" delete --force "$id" 2>/dev/null
done
pkill -f containerd-shim-runc-v2
# Processes still in the cluster's cgroups (containers whose shim is gone).
for f in /sys/fs/cgroup/pids/e2e-*/ ; do
  [ -d "$f" ] && find "$f" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -9
done
sleep 1
grep -E " /tmp/e2e-" /proc/self/mountinfo | awk '{print $5}' | sort -r | while read -r m; do umount -l "$m"; done
for d in /sys/fs/cgroup/*/e2e-*; do [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null; done
ip link del sse2e0 2>/dev/null
nft delete table ip kube-proxy 2>/dev/null; nft delete table ip6 kube-proxy 2>/dev/null
rm -rf /tmp/e2e-* /run/containerd /var/lib/kubelet /var/log/containers
echo "e2e-cleanup: done"
