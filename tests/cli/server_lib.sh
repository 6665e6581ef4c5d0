# Sourced by the cli and examples tests: starts the REAL isopool_server on port 0 with a data dir
# under $TEST_TMPDIR, reads its port from the JSON start line on stderr, and stops every server
# it started (SIGTERM, then SIGKILL) when the test exits.
#
#   start_server [server flags...]   # sets SERVER_PORT, SERVER_ADDR, SERVER_LOG, SERVER_PID
set -euo pipefail

RUNFILES=${RUNFILES_DIR:-${TEST_SRCDIR:?run me with bazel test}}
WS="$RUNFILES/isopool"
SERVER_BIN="$WS/service/isopool_server"
PACK_BIN="$WS/engine/isopool_pack"
TMP=${TEST_TMPDIR:?run me with bazel test}
SERVER_PIDS=()
SERVER_ADDR=""
FAILURES=0
CHECKS=0

die() { echo "FAIL: $*" >&2; exit 1; }

stop_servers() {
  local pid
  for pid in "${SERVER_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
}
trap stop_servers EXIT

start_server() {
  [ -x "$SERVER_BIN" ] || die "no server binary at $SERVER_BIN"
  local n=${#SERVER_PIDS[@]}
  local data="$TMP/data.$n"
  SERVER_LOG="$TMP/server.$n.log"
  mkdir -p "$data"
  # Created here, not by the background job's redirection: the loop below may read it first, and
  # a failing sed under pipefail + errexit would end the test.
  : >"$SERVER_LOG"
  "$SERVER_BIN" --listen=127.0.0.1:0 --metrics_listen=127.0.0.1:0 --data_dir="$data" \
    --pack_binary="$PACK_BIN" "$@" 2>"$SERVER_LOG" &
  SERVER_PID=$!
  SERVER_PIDS+=("$SERVER_PID")
  SERVER_PORT=""
  for _ in $(seq 300); do
    SERVER_PORT=$(sed -n 's/.*"event":"start".*"port":\([0-9]*\).*/\1/p' "$SERVER_LOG" | head -1)
    [ -n "$SERVER_PORT" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$SERVER_LOG" >&2; die "the server exited at start"; }
    sleep 0.1
  done
  [ -n "$SERVER_PORT" ] || { cat "$SERVER_LOG" >&2; die "no start line with a port within 30 s"; }
  SERVER_ADDR="127.0.0.1:$SERVER_PORT"
}

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
