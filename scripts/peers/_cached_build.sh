# Sourced by the build-*.sh scripts of single Go tools: the stamp, the per-user cache and the
# lock they share. A build is reused when its stamp (pin + Go version + hash of the harness's
# go.mod/go.sum) matches; builds are also kept outside the checkout, keyed by the stamp, so a
# fresh clone on the same machine (CI's) reuses them and a pin change never reuses an old one.
# PEERS_FORCE_REBUILD=1 rebuilds regardless.

# cached_build_begin <name> <module dir> <pin line>: sets bin, stamp, stamp_file, cached; takes
# the lock; exits the calling script with 0 when .peers/bin/<name> is current or restored.
cached_build_begin() {
  local name=$1 mod=$2 pin=$3
  bin="$root/.peers/bin"
  stamp=$(printf '%s\ngo=%s\nharness=%s\n' "$pin" "$(go env GOVERSION)" \
    "$(cat "$mod/go.mod" "$mod/go.sum" | sha256sum | cut -d' ' -f1)")
  stamp_file="$bin/.$name-version"
  local cache="${SECRETS_STORE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/secrets-store}/peers"
  mkdir -p "$bin" "$cache"
  cached="$cache/$name-$(printf '%s' "$stamp" | sha256sum | cut -c1-16)"
  # Serialise concurrent callers (parallel test runs) so they do not build twice into one path.
  if command -v flock >/dev/null; then
    exec 9>"$bin/.build-$name.lock"
    flock 9
  fi
  [ "${PEERS_FORCE_REBUILD:-0}" != 1 ] || { rm -f "$stamp_file"; return 0; }
  if [ -x "$bin/$name" ] && [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ]; then
    echo "build-$name: $pin is up to date in .peers/bin"
    [ -x "$cached" ] || { cp "$bin/$name" "$cached.tmp" && mv -f "$cached.tmp" "$cached"; }
    exit 0
  fi
  if [ -x "$cached" ]; then
    cp "$cached" "$bin/$name.tmp" && mv -f "$bin/$name.tmp" "$bin/$name"
    printf '%s\n' "$stamp" > "$stamp_file"
    echo "build-$name: reused cached $name ($cached)"
    exit 0
  fi
  rm -f "$stamp_file"
}

# cached_build_done <name>: moves the fresh build into place, stamps and caches it.
cached_build_done() {
  local name=$1
  mv -f "$bin/$name.tmp" "$bin/$name"
  printf '%s\n' "$stamp" > "$stamp_file"
  cp "$bin/$name" "$cached.tmp" && mv -f "$cached.tmp" "$cached"
}
