#!/usr/bin/env bash
# launcher.sh: start_server sets SERVER_* for a ready server that got the flags and environment;
# stop_servers stops it; a shell that exits without stopping its servers stops them too.
set -euo pipefail
source "${TEST_SRCDIR:?run me with bazel test}/isopool/tests/harness/launcher.sh"

running() { [ -r "/proc/$1/stat" ] && [[ $(sed 's/.*) //' "/proc/$1/stat") != Z* ]]; }
ends() {
  for _ in $(seq 2000); do running "$1" || return 0; sleep 0.01; done
  return 1
}
fail() { echo "FAIL $*" >&2; exit 1; }

ISOPOOL_WORKERS=1 start_server --log_level=info
[ "$SERVER_ADDR" = "127.0.0.1:$SERVER_PORT" ] || fail "SERVER_ADDR $SERVER_ADDR"
running "$SERVER_PID" || fail "the server is not running"
grep -q '"workers":1' "$SERVER_LOG" || fail "the environment did not reach the server"
exec 3<>"/dev/tcp/127.0.0.1/$SERVER_METRICS_PORT" || fail "metrics port closed"
exec 3>&-
echo "ok   start_server: a ready server with the caller's environment"
pid=$SERVER_PID
stop_servers
ends "$pid" || fail "stop_servers left the server running"
echo "ok   stop_servers stops it"

# A shell that exits (here: dies by SIGKILL) without stop_servers: its launcher sees EOF.
pid=$(bash -c 'source "$TEST_SRCDIR/isopool/tests/harness/launcher.sh"
               start_server; echo "$SERVER_PID"; kill -KILL $$' || true)
[ -n "$pid" ] || fail "no server started in the child shell"
ends "$pid" || fail "the server outlived its shell"
echo "ok   a server does not outlive its shell"
