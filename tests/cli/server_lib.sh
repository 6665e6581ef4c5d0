# Sourced by the cli, examples and web_bundles tests: the real isopool_server through
# tests/harness/launcher.sh (port 0, ready when its port file appears, data dir and log under
# $TEST_TMPDIR), plus small test helpers. Every server, and every process in CHILD_PIDS, is
# stopped when the test exits.
#
#   start_server [server flags...]   # sets SERVER_PORT, SERVER_ADDR, SERVER_LOG, SERVER_PID
#   check NAME COMMAND...            # records a pass or a failure; finish reports and fails
set -euo pipefail

RUNFILES=${RUNFILES_DIR:-${TEST_SRCDIR:?run me with bazel test}}
WS="$RUNFILES/isopool"
TMP=${TEST_TMPDIR:?run me with bazel test}
source "$WS/tests/harness/launcher.sh"
CHILD_PIDS=()  # other processes a test starts (e.g. tests/examples/router_lib.sh's HAProxy)
FAILURES=0
CHECKS=0

die() { echo "FAIL: $*" >&2; exit 1; }

stop_children() {
  local pid
  stop_servers
  for pid in "${CHILD_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
}
trap stop_children EXIT

# A loopback port that nothing listens on (bound, then released).
closed_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# check NAME CONDITION-COMMAND...: records a pass or a failure (the test goes on, then fails).
check() {
  local name=$1
  shift
  CHECKS=$((CHECKS + 1))
  if "$@"; then
    echo "ok   $name"
  else
    echo "FAIL $name" >&2
    FAILURES=$((FAILURES + 1))
  fi
}

finish() {
  if [ "$FAILURES" -gt 0 ]; then
    local log
    for log in "$TMP"/server.*.log; do
      echo "--- last lines of $log" >&2
      grep -v '^    ptr' "$log" | tail -20 >&2
    done
  fi
  echo "$((CHECKS - FAILURES)) passed, $FAILURES failed"
  [ "$FAILURES" -eq 0 ]
}
