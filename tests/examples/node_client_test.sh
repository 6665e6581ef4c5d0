#!/usr/bin/env bash
# examples/node/client.js (@grpc/grpc-js + @grpc/proto-loader) against the real server: it must
# check health, upload, execute and print the checked result; and it must fail (non-zero) when
# no server is there. Needs examples/node/node_modules (see BUILD.bazel): FAILS without it.
source "${TEST_SRCDIR:?run me with bazel test}/isopool/tests/cli/server_lib.sh"
source "$WS/tests/examples/router_lib.sh"
# Unsandboxed ("local"): the source tree is where this script's runfiles symlink points.
REPO=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
DIR="$REPO/examples/node"
FIX="run: tools/npm_test_deps.sh examples/node"
[ -f "$DIR/package-lock.json" ] || die "cannot find the source tree from $0 (no $DIR/package-lock.json)"
command -v node >/dev/null || die "node is missing; run tools/setup.sh --test"
[ -d "$DIR/node_modules" ] || die "examples/node/node_modules is missing; $FIX"
[ "$(cat "$DIR/node_modules/.lockhash" 2>/dev/null)" = "$(sha256sum "$DIR/package-lock.json" | cut -d' ' -f1)" ] ||
  die "examples/node/node_modules is stale (package-lock.json changed); $FIX"

start_server
set +e
OUT=$(node "$DIR/client.js" --addr "$SERVER_ADDR" 2>&1)
RC=$?
set -e
echo "$OUT"
check "client.js exits 0" [ "$RC" -eq 0 ]
check "health was SERVING" grep -q "^health: SERVING" <<<"$OUT"
check "the bundle was uploaded" grep -Eq "^uploaded example-stats: sha256:[0-9a-f]{64}" <<<"$OUT"
check "the console line came back" grep -q "summarizing 6 numbers" <<<"$OUT"
check "the result was printed" grep -q '"sum":108' <<<"$OUT"

# Snapshot affinity: through the router, the upload and the call carry x-isopool-snapshot
# (the logged URI of an h2 request may be absolute: match the path at its end).
start_router
set +e
OUT=$(node "$DIR/client.js" --addr "$ROUTER_ADDR" 2>&1)
RC=$?
set -e
check "client.js works through the router" [ "$RC" -eq 0 ]
check "the upload carried x-isopool-snapshot" grep -q "/isopool.v1.Isopool/UploadSnapshot example-stats$" "$ROUTER_LOG"
check "the call carried x-isopool-snapshot" grep -q "/isopool.v1.Isopool/Execute example-stats$" "$ROUTER_LOG"

set +e
OUT=$(node "$DIR/client.js" --addr "127.0.0.1:$(closed_port)" 2>&1)
RC=$?
set -e
check "client.js fails against a closed port" [ "$RC" -ne 0 ]
check "and says it was unavailable" grep -q "UNAVAILABLE" <<<"$OUT"
finish
