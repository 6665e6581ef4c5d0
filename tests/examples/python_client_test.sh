#!/usr/bin/env bash
# examples/python/client.py, run with Debian's /usr/bin/python3 (python3-grpcio), against the real
# server: it must check health, upload, execute and print the checked result; and it must fail
# (non-zero) when no server is there.
source "${TEST_SRCDIR:?run me with bazel test}/isopool/tests/cli/server_lib.sh"
source "$WS/tests/examples/router_lib.sh"
CLIENT="$WS/examples/python/client.py"
[ -x /usr/bin/python3 ] || die "/usr/bin/python3 is missing; run tools/setup.sh --test"
/usr/bin/python3 -c 'import grpc' 2>/dev/null ||
  die "Debian's python3-grpcio is missing; run tools/setup.sh --test (apt-get install python3-grpcio)"

start_server
set +e
OUT=$(/usr/bin/python3 "$CLIENT" --addr "$SERVER_ADDR" 2>&1)
RC=$?
set -e
echo "$OUT"
check "client.py exits 0" [ "$RC" -eq 0 ]
check "health was SERVING" grep -q "^health: SERVING" <<<"$OUT"
check "the bundle was uploaded" grep -Eq "^uploaded example-stats: sha256:[0-9a-f]{64}" <<<"$OUT"
check "the console line came back" grep -q "summarizing 6 numbers" <<<"$OUT"
check "the result was printed" grep -q '"sum": 108' <<<"$OUT"

# Snapshot affinity: through the router, the upload and the call carry x-isopool-snapshot
# (the logged URI of an h2 request may be absolute: match the path at its end).
start_router
set +e
OUT=$(/usr/bin/python3 "$CLIENT" --addr "$ROUTER_ADDR" 2>&1)
RC=$?
set -e
check "client.py works through the router" [ "$RC" -eq 0 ]
check "the upload carried x-isopool-snapshot" grep -q "/isopool.v1.Isopool/UploadSnapshot example-stats$" "$ROUTER_LOG"
check "the call carried x-isopool-snapshot" grep -q "/isopool.v1.Isopool/Execute example-stats$" "$ROUTER_LOG"

set +e
OUT=$(/usr/bin/python3 "$CLIENT" --addr "127.0.0.1:$(closed_port)" 2>&1)
RC=$?
set -e
check "client.py fails against a closed port" [ "$RC" -ne 0 ]
check "and says it was unavailable" grep -q "UNAVAILABLE" <<<"$OUT"
finish
