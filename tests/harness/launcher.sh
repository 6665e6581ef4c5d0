# The real isopool_server for shell tests: a thin wrapper over //tests/harness:launch_server
# (launch_server.cc, built on server_process.h). Sourced by bash (tests/cli/server_lib.sh).
#
#   start_server [server flags...]   # waits until the server is ready, then sets SERVER_PORT,
#                                    # SERVER_ADDR, SERVER_METRICS_PORT, SERVER_LOG, SERVER_PID
#   stop_servers                     # stops every server started here and waits for it
#
# Each server's launcher reads a FIFO whose write end this shell holds open: when the shell
# exits, however it exits, the launcher sees EOF and stops its server (SIGTERM, then SIGKILL),
# unless a process the shell started in the background still holds that end. stop_servers
# stops them now (SIGTERM to the launchers) and waits. The server inherits the environment, so
# `ISOPOOL_FOO=x start_server` sets its flags. Data dirs and logs go to $TEST_TMPDIR (else
# $TMPDIR): data.N and server.N.log for the Nth server.

LAUNCH_SERVER=${ISOPOOL_LAUNCH_SERVER:-${RUNFILES_DIR:-${TEST_SRCDIR:-}}/isopool/tests/harness/launch_server}
LAUNCH_TMP=${TEST_TMPDIR:-${TMPDIR:-/tmp}}
LAUNCHER_PIDS=()
LAUNCHER_FDS=()
SERVER_PORT="" SERVER_ADDR="" SERVER_METRICS_PORT="" SERVER_LOG="" SERVER_PID=""

start_server() {
  if [ ! -x "$LAUNCH_SERVER" ]; then
    echo "FAIL: no launch_server at $LAUNCH_SERVER (add //tests/harness:shell_launcher to data)" >&2
    exit 1
  fi
  local n=${#LAUNCHER_PIDS[@]}
  local data="$LAUNCH_TMP/data.$n" stdin_fifo="$LAUNCH_TMP/launcher.$n.stdin"
  local ready_fifo="$LAUNCH_TMP/launcher.$n.ready" stdin_fd ready_fd ready=""
  SERVER_LOG="$LAUNCH_TMP/server.$n.log"
  mkdir -p "$data"
  rm -f "$stdin_fifo" "$ready_fifo"
  mkfifo "$stdin_fifo" "$ready_fifo"
  (
    # Not the stdin of the servers started before: each must see its own EOF.
    for stdin_fd in "${LAUNCHER_FDS[@]}"; do exec {stdin_fd}>&-; done
    exec "$LAUNCH_SERVER" --data_dir="$data" --log="$SERVER_LOG" -- "$@"
  ) <"$stdin_fifo" >"$ready_fifo" &
  LAUNCHER_PIDS+=("$!")
  # Each open waits for the launcher's end of its FIFO (in the order the launcher opens them).
  exec {stdin_fd}>"$stdin_fifo"
  LAUNCHER_FDS+=("$stdin_fd")
  exec {ready_fd}<"$ready_fifo"
  # The launcher prints one line when the server is ready, or exits with its reason on stderr.
  IFS= read -r ready <&"$ready_fd" || true
  exec {ready_fd}<&-
  if [[ ! $ready =~ \"grpc_port\":([0-9]+),\"metrics_port\":([0-9]+),\"pid\":([0-9]+) ]]; then
    echo "FAIL: the server did not start (launch_server's reason is above; its log: $SERVER_LOG)" >&2
    exit 1
  fi
  SERVER_PORT=${BASH_REMATCH[1]}
  SERVER_METRICS_PORT=${BASH_REMATCH[2]}
  SERVER_PID=${BASH_REMATCH[3]}
  SERVER_ADDR="127.0.0.1:$SERVER_PORT"
}

stop_servers() {
  local fd pid
  for fd in "${LAUNCHER_FDS[@]}"; do exec {fd}>&-; done
  LAUNCHER_FDS=()
  # SIGTERM as well: a background process this shell started later (HAProxy, a client) inherited
  # the FIFOs' write ends, so EOF may never come while it runs.
  for pid in "${LAUNCHER_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${LAUNCHER_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  LAUNCHER_PIDS=()
}
