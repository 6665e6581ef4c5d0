#!/usr/bin/env bash
# Installs the npm packages that a folder pins (package.json + package-lock.json), quietly, and
# only when its node_modules is missing or was installed from another package-lock.json. Used for
# test folders and, by tools/setup.sh, for engine/web/npm (bundled into the build).
#
#   tools/npm_test_deps.sh tests/deploy
#
# Run it before `bazel test`: Bazel tests cannot write to the source tree, so they only read the
# node_modules this leaves behind (and fail, naming this command, when it is missing).
# The hash of the lock file that was installed is kept in node_modules/.lockhash.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 <dir with package-lock.json>" >&2; exit 2; }
dir=$1
lock="$dir/package-lock.json"
[ -f "$lock" ] || { echo "npm_test_deps: no $lock" >&2; exit 1; }
command -v npm >/dev/null || { echo "npm_test_deps: npm not found (tools/setup.sh --test installs it)" >&2; exit 1; }

want=$(sha256sum "$lock" | cut -d' ' -f1)
stamp="$dir/node_modules/.lockhash"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
log=$(mktemp)
if ! (cd "$dir" && npm ci --no-audit --no-fund >"$log" 2>&1); then
  echo "npm_test_deps: npm ci failed in $dir:" >&2
  tail -n 20 "$log" >&2
  rm -f "$log"
  exit 1
fi
rm -f "$log"
echo "$want" >"$stamp"
