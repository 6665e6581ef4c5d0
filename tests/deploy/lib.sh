# Sourced by the deploy tests. They run unsandboxed (tags "local"), so the repository is found
# by resolving the test script's runfiles symlink back to the source tree.
set -euo pipefail

REPO=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
[ -f "$REPO/deploy/BUILD.bazel" ] || { echo "FAIL: cannot find the repository from $0" >&2; exit 1; }

die() { echo "FAIL: $*" >&2; exit 1; }

need_tool() {  # need_tool <path or name> <how to get it>
  command -v "$1" >/dev/null || die "$1 not found; $2"
}

# The npm packages pinned in tests/deploy/package-lock.json, installed by tools/npm_test_deps.sh
# (Bazel tests cannot write the source tree, so they never install anything themselves).
need_node_modules() {
  local dir="$REPO/tests/deploy" fix="run: tools/npm_test_deps.sh tests/deploy"
  need_tool node "install Node.js (tools/setup.sh --test)"
  [ -d "$dir/node_modules" ] || die "tests/deploy/node_modules is missing; $fix"
  local want
  want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  [ "$(cat "$dir/node_modules/.lockhash" 2>/dev/null)" = "$want" ] ||
    die "tests/deploy/node_modules is stale (package-lock.json changed); $fix"
  NODE_MODULES="$dir/node_modules"
}
