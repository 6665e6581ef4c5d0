#!/usr/bin/env bash
# The end-to-end benchmark suite of issue 6, in one command (bench/README.md explains it):
#
#   bench/run.sh            # full suite, ~6-7 minutes on 2 cores; writes bench/RESULTS.md
#   bench/run.sh --smoke    # a few seconds, concurrency 2, no peer, no 750 KiB bundle; exits
#                           # non-zero on any unexpected error (tests/bench:bench_smoke_test)
#
# Steps: build the -c opt binaries (server, pack, loadgen, isopoolctl) and copy them to a temp
# dir; prepare the peer's node_modules if missing; start isopool on 127.0.0.1 port 0 with a
# temp data dir; upload the snapshots with isopoolctl; run every scenario through the same
# loadgen, alternating isopool and peer runs; measure uploads (suite.py uploads); write the
# results (suite.py report). Every step has a time bound; traffic goes to 127.0.0.1 only.
#
# Flags: --smoke, --out FILE (default bench/RESULTS.md; --smoke: <work dir>/RESULTS.md),
# --no_peer, --no_pin (skip the pinned table), --no_shared_store (skip the shared-store table:
# bench/shared_store, a real PostgreSQL and Ceph; full mode only), --keep_work.
# Environment: ISOPOOL_SERVER, ISOPOOL_PACK, LOADGEN, ISOPOOLCTL (all four set = use these
# binaries, do not build; ISOPOOL_WORKER too, else the server finds isopool_worker itself); DURATION, WARMUP (seconds per run), ROUNDS (alternating rounds of the
# ratio rows), MIXED_DURATION; PYTHON (default /usr/bin/python3, which has Debian's grpcio).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
PY="${PYTHON:-/usr/bin/python3}"
suite_py="$here/suite.py"
t_start=$(date +%s)
load_start=$(cut -d' ' -f1 /proc/loadavg)
# busy_now: the share of both cores busy over the next second, and the compilers running (other
# engineers' builds share this machine; the report says so).
busy_now() {
  local a b
  a=($(head -1 /proc/stat)); sleep 1; b=($(head -1 /proc/stat))
  local total=0 i
  for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
  local idle=$((b[4] - a[4] + b[5] - a[5]))
  echo "$(((total - idle) * 100 / (total > 0 ? total : 1)))% CPU busy, $(pgrep -c 'cc1plus|clang' || true) compiler processes"
}
busy_start=$(busy_now)

smoke=0 out="" want_peer=1 want_pin=1 keep_work=0 want_shared=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --smoke) smoke=1 ;;
    --out) out="$2"; shift ;;
    --out=*) out="${1#--out=}" ;;
    --no_peer) want_peer=0 ;;
    --no_pin) want_pin=0 ;;
    --no_shared_store) want_shared=0 ;;
    --keep_work) keep_work=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "suite: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

if [[ $smoke == 1 ]]; then
  warmup=${WARMUP:-0.2} duration=${DURATION:-0.5} rounds=${ROUNDS:-1}
  mixed_duration=${MIXED_DURATION:-1} want_peer=0 want_pin=0
else
  warmup=${WARMUP:-1} duration=${DURATION:-5} rounds=${ROUNDS:-3} mixed_duration=${MIXED_DURATION:-10}
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/isopool-bench.XXXXXX")"
mkdir -p "$work/runs" "$work/bin" "$work/lib" "$work/data"
[[ -n "$out" ]] || { if [[ $smoke == 1 ]]; then out="$work/RESULTS.md"; else out="$root/bench/RESULTS.md"; fi; }
notes="$work/notes.txt"
: >"$notes"
note() { echo "$*" >>"$notes"; echo "suite: note: $*" >&2; }
log() { echo "suite [$(($(date +%s) - t_start))s]: $*" >&2; }
die() { echo "suite: FAIL: $*" >&2; exit 1; }

pids=()
server_pid=""
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [[ $keep_work == 0 ]]; then rm -rf "$work/data" "$work/bin" "$work/lib"; fi
}
trap cleanup EXIT

# ------------------------------------------------------------------ 1. binaries and the peer
if [[ -n "${ISOPOOL_SERVER:-}" && -n "${ISOPOOL_PACK:-}" && -n "${LOADGEN:-}" && -n "${ISOPOOLCTL:-}" ]]; then
  server_bin=$ISOPOOL_SERVER pack_bin=$ISOPOOL_PACK loadgen_bin=$LOADGEN ctl_bin=$ISOPOOLCTL
  build_note="prebuilt binaries from the environment"
else
  log "building -c opt (server, pack, loadgen, isopoolctl)"
  targets=(//service:isopool_server //engine:isopool_pack //worker:isopool_worker //bench/loadgen:loadgen
    //cli:isopoolctl)
  (cd "$root" && timeout 1200 bazel build -c opt "${targets[@]}") || die "bazel build -c opt failed"
  opt_bin="$(cd "$root" && timeout 300 bazel info -c opt bazel-bin 2>/dev/null)"
  # Copies, so that other builds flipping bazel-bin between configurations cannot change them
  # under us. libnode is found through $ORIGIN-relative runpaths in bazel-out; the copies find it
  # through LD_LIBRARY_PATH instead.
  for f in service/isopool_server engine/isopool_pack worker/isopool_worker bench/loadgen/loadgen \
    cli/isopoolctl; do
    cp -L "$opt_bin/$f" "$work/bin/"
  done
  libnode="$(ldd "$opt_bin/service/isopool_server" | awk '/libnode/ {print $3}')"
  [[ -f "$libnode" ]] || die "libnode.so not found for the server ($libnode)"
  ln -s "$(readlink -f "$libnode")" "$work/lib/$(basename "$libnode")"
  export LD_LIBRARY_PATH="$work/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  server_bin=$work/bin/isopool_server pack_bin=$work/bin/isopool_pack
  ISOPOOL_WORKER=$work/bin/isopool_worker
  loadgen_bin=$work/bin/loadgen ctl_bin=$work/bin/isopoolctl
  build_note="bazel build -c opt, copied from $(basename "$(dirname "$opt_bin")")"
fi
for b in "$server_bin" "$pack_bin" "$loadgen_bin" "$ctl_bin"; do [[ -x "$b" ]] || die "no binary $b"; done

peer_dir="$root/bench/peers/node-isolated-vm"
peer_ok=0
if [[ $want_peer == 1 ]]; then
  if ! command -v node >/dev/null; then
    note "node is not installed: the peer rows are missing"
  else
    if [[ ! -d "$peer_dir/node_modules/isolated-vm" ]]; then
      log "npm ci --build-from-source in $peer_dir (isolated-vm compiles, 1-3 minutes)"
      (cd "$peer_dir" && timeout 600 npm ci --build-from-source --no-audit --no-fund >"$work/npm.log" 2>&1) ||
        note "npm ci failed (see $work/npm.log): the peer rows are missing"
    fi
    if (cd "$peer_dir" && timeout 30 node -e "require('isolated-vm'); require('@grpc/grpc-js')") 2>/dev/null; then
      peer_ok=1
    else
      note "the peer's node_modules do not load: the peer rows are missing"
    fi
  fi
fi

# ------------------------------------------------------------------ 2. the isopool server
# A hash seed below 2^63: V8 10.2 refuses larger --hash-seed values ("out of bounds") and then
# silently runs with a random seed (see bench/README.md, "Known server issues").
"$PY" -c 'import secrets; print(secrets.randbits(62) + 1)' >"$work/hash_seed"
chmod 600 "$work/hash_seed"
worker_flag=()
[[ -n "${ISOPOOL_WORKER:-}" ]] && worker_flag=(--worker_binary="$ISOPOOL_WORKER")
"$server_bin" --listen=127.0.0.1:0 --metrics_listen=127.0.0.1:0 --data_dir="$work/data" \
  --pack_binary="$pack_bin" --hash_seed_file="$work/hash_seed" "${worker_flag[@]}" \
  2>"$work/server.log" &
server_pid=$!
pids+=("$server_pid")
port="" metrics_port=""
for _ in $(seq 300); do
  port=$(sed -n 's/.*"event":"start".*"port":\([0-9]*\).*/\1/p' "$work/server.log" | head -1)
  [[ -n "$port" ]] && break
  kill -0 "$server_pid" 2>/dev/null || { tail -20 "$work/server.log" >&2; die "the server exited at start"; }
  sleep 0.1
done
[[ -n "$port" ]] || { tail -20 "$work/server.log" >&2; die "no start line from the server within 30 s"; }
metrics_port=$(sed -n 's/.*"event":"start".*"metrics_port":\([0-9]*\).*/\1/p' "$work/server.log" | head -1)
addr="127.0.0.1:$port"
metrics_url="http://127.0.0.1:$metrics_port/metrics"
log "isopool on $addr (metrics :$metrics_port), work dir $work"

server_alive() {
  kill -0 "$server_pid" 2>/dev/null || { tail -30 "$work/server.log" >&2; die "the isopool server died"; }
}

ctl() { timeout 120 "$ctl_bin" --addr "$addr" "$@"; }
echo 'function echo(x) { return x; }' >"$work/echo.js"
for mode in fresh context shared; do
  ctl upload "$work/echo.js" --name "echo-$mode" --isolation "$mode" --prewarm --json >"$work/upload-echo-$mode.json" ||
    die "upload of echo-$mode failed"
  [[ "$(ctl exec "echo-$mode" --function echo --args '[42]')" == 42 ]] || die "echo-$mode(42) is not 42"
done
[[ "$(ctl exec --blank --source '1+1')" == 2 ]] || die "blank 1+1 is not 2"
if [[ $smoke == 0 ]]; then
  "$PY" "$suite_py" bundle "$work/bundle.js"
  expect="$("$PY" "$suite_py" expect-bundle)"
  for mode in context shared; do
    ctl upload "$work/bundle.js" --name "bundle-$mode" --isolation "$mode" --prewarm --json \
      >"$work/upload-bundle-$mode.json" || die "upload of the 750 KiB bundle ($mode) failed"
    got="$(ctl exec "bundle-$mode" --function handler --args '[7]')"
    [[ "$got" == "$expect" ]] || die "bundle-$mode handler(7) = $got, want $expect"
  done
fi

# ------------------------------------------------------------------ the peer processes
declare -A peer_port=() peer_pid=()
start_peer() {  # start_peer MODE: node server.js with the bundle preloaded, port in peer_port[MODE]
  local mode=$1 p=""
  local listen="$work/peer-$mode.listen"
  : >"$listen"
  node "$peer_dir/server.js" --port 0 --context "$mode" --bundle "$work/bundle.js" --snapshot bundle \
    >"$listen" 2>"$work/peer-$mode.log" &
  peer_pid[$mode]=$!
  pids+=("$!")
  for _ in $(seq 300); do
    p=$(awk '/^LISTENING/ {print $2}' "$listen")
    [[ -n "$p" ]] && break
    kill -0 "${peer_pid[$mode]}" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -z "$p" ]]; then
    note "the peer ($mode) did not listen within 30 s: $(tail -3 "$work/peer-$mode.log" | tr '\n' ' ')"
    return 1
  fi
  peer_port[$mode]=$p
  local got
  got="$(timeout 30 "$ctl_bin" --addr "127.0.0.1:$p" exec bundle --function handler --args '[7]' || true)"
  [[ "$got" == "$expect" ]] || { note "peer ($mode) handler(7) = '$got', want $expect"; return 1; }
}
if [[ $peer_ok == 1 ]]; then
  start_peer reuse && start_peer new || peer_ok=0
fi

# ------------------------------------------------------------------ loadgen runs
seq_no=0
client_cpu=""     # set to a CPU number to pin the load generator there
fail_flag=()
[[ $smoke == 1 ]] && fail_flag=(--fail_on_unexpected_errors)
# lg LABEL CONCURRENCY TARGET [loadgen flags...]: one bounded run; its JSON goes to runs/. The
# label names the row of the report (smoke mode keeps it but runs at concurrency 2).
lg() {
  local label=$1 c=$2 target=$3
  shift 3
  [[ -n "$client_cpu" ]] && label="pinned $label"
  [[ $smoke == 1 ]] && c=2
  seq_no=$((seq_no + 1))
  local d=$duration json
  [[ $label == *mixed* ]] && d=$mixed_duration
  json="$(printf '%s/runs/%03d.json' "$work" "$seq_no")"
  local cap pre=() rc=0
  cap=$(awk "BEGIN {print int($warmup + $d + 20)}")
  [[ -n "$client_cpu" ]] && pre=(taskset -c "$client_cpu")
  "${pre[@]}" timeout $((cap + 15)) "$loadgen_bin" --target="$target" --label="$label" \
    --concurrency="$c" --channels=2 --warmup_seconds="$warmup" --duration_seconds="$d" \
    --hard_cap_seconds="$cap" --json_out="$json" "${fail_flag[@]}" "$@" >&2 || rc=$?
  if [[ $rc != 0 ]]; then
    [[ $smoke == 1 ]] && die "loadgen run '$label' exited $rc"
    note "loadgen run '$label' exited $rc"
    rm -f "$json"
  fi
  server_alive
}
# iso NAME C [flags]: Execute on isopool, row "NAME c=C".
iso() { lg "$1 c=$2" "$2" "$addr" --rpc=execute "${@:3}"; }
echo_call() { iso "echo-$1" "$2" --snapshot="echo-$1" --function=echo --args_json='[1]'; }
floor() { lg "floor c=$1" "$1" "$addr" --rpc=health; }
# peer MODE NAME C [flags]: a run against the peer started in MODE, row "NAME c=C".
peer() {
  [[ $peer_ok == 1 ]] || return 0
  lg "$2 c=$3" "$3" "127.0.0.1:${peer_port[$1]}" "${@:4}"
}

log "scenario 1 + floor + peer, $rounds alternating round(s)"
for _ in $(seq "$rounds"); do
  floor 16
  echo_call context 16
  peer reuse peer-reuse 16 --rpc=execute --source='1+1'
  iso blank 16 --source='1+1'
  echo_call shared 16
  peer new peer-new 16 --rpc=execute --source='1+1'
done
echo_call fresh 16
if [[ $smoke == 0 ]]; then
  for c in 1 64; do
    floor "$c"
    for mode in fresh context shared; do echo_call "$mode" "$c"; done
    iso blank "$c" --source='1+1'
  done
  peer reuse peer-health 16 --rpc=health

  log "scenario 2: the 750 KiB bundle"
  bundle_args=(--snapshot=bundle --function=handler --args_json='[7]')
  iso bundle-context 16 --snapshot=bundle-context --function=handler --args_json='[7]'
  peer reuse peer-bundle-reuse 16 --rpc=execute "${bundle_args[@]}"
  iso bundle-shared 16 --snapshot=bundle-shared --function=handler --args_json='[7]'
  peer new peer-bundle-new 16 --rpc=execute "${bundle_args[@]}"
  iso bundle-context 1 --snapshot=bundle-context --function=handler --args_json='[7]'
  iso bundle-shared 1 --snapshot=bundle-shared --function=handler --args_json='[7]'
fi

log "scenario 3: mixed load, 1% hostile"
condemned_before=$("$PY" "$suite_py" metric "$metrics_url" isopool_isolates_condemned_total)
condemned=0
mixed_rounds=2
[[ $smoke == 1 ]] && mixed_rounds=1
for _ in $(seq "$mixed_rounds"); do
  lg mixed-clean 16 "$addr" --rpc=execute --snapshot=echo-context --function=echo --args_json='[1]'
  before=$("$PY" "$suite_py" metric "$metrics_url" isopool_isolates_condemned_total)
  lg mixed-hostile 16 "$addr" --rpc=execute --snapshot=echo-context --function=echo --args_json='[1]' \
    --hostile_fraction=0.01 --hostile=loop,heap --hostile_timeout_ms=50 --hostile_heap_mib=16
  after=$("$PY" "$suite_py" metric "$metrics_url" isopool_isolates_condemned_total)
  condemned=$((condemned + after - before))
done
if [[ $smoke == 1 ]]; then
  hostile_n=$("$PY" -c 'import glob, json, sys
print(sum(json.load(open(f)).get("hostile", {}).get("requests", 0) for f in glob.glob(sys.argv[1] + "/*.json")))' "$work/runs")
  [[ $hostile_n -gt 0 ]] || die "the mixed run made no hostile call"
  [[ $condemned -gt 0 ]] || die "hostile calls condemned no isolate (isopool_isolates_condemned_total)"
fi
peer reuse peer-mixed-hostile 16 --rpc=execute --source='1+1' --hostile_fraction=0.01 \
  --hostile=loop,heap --hostile_timeout_ms=50 --hostile_heap_mib=16

pinned_done=0
if [[ $want_pin == 1 ]] && command -v taskset >/dev/null; then
  log "pinned table: server/peer on CPU 0, loadgen on CPU 1"
  pin_to() { local mask=$1 pid; shift; for pid in "$@"; do taskset -a -p "$mask" "$pid" >/dev/null 2>&1 || true; done; }
  # The server's worker processes run the JavaScript: they go with it.
  all=("$server_pid" $(pgrep -P "$server_pid" || true))
  [[ $peer_ok == 1 ]] && all+=("${peer_pid[reuse]}" "${peer_pid[new]}")
  pin_to 0x1 "${all[@]}"
  client_cpu=1
  floor 16
  echo_call context 16
  peer reuse peer-reuse 16 --rpc=execute --source='1+1'
  echo_call shared 16
  peer new peer-new 16 --rpc=execute --source='1+1'
  client_cpu=""
  pin_to 0x3 "${all[@]}"
  pinned_done=1
fi

log "scenario 4: uploads"
if [[ $smoke == 1 ]]; then up_args=(--uploads 3 --upload_concurrency 1 --first_exec 1); else up_args=(--uploads 20 --upload_concurrency 1,2 --first_exec 5); fi
proto="$root/proto/isopool/v1/isopool.proto"
upload_rc=0
timeout 300 "$PY" "$suite_py" uploads "$addr" "$work/uploads.json" --proto "$proto" "${up_args[@]}" >&2 || upload_rc=$?
if [[ $upload_rc != 0 ]]; then
  [[ $smoke == 1 ]] && die "scenario 4 (uploads) failed with $upload_rc"
  note "scenario 4 (uploads) exited $upload_rc"
fi
server_alive

# ------------------------------------------------------------------ 3. the report
load_end=$(cut -d' ' -f1 /proc/loadavg)
kill -TERM "$server_pid" 2>/dev/null || true
for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
# ------------------------------------------------------------------ the shared store (issue 11)
# The filesystem store against the shared store (PostgreSQL + Ceph radosgw, both real, started by
# the benchmark), side by side in one run: uploads, a cold call on a replica that never saw the
# snapshot, warm calls. Its table replaces the section between the markers in the report.
shared_md=""
if [[ $smoke == 0 && $want_shared == 1 ]]; then
  log "shared store vs filesystem store (bench/shared_store; starts PostgreSQL and Ceph)"
  if (cd "$root" && timeout 1800 bazel run -c opt //bench/shared_store:shared_store_bench) \
      >"$work/shared_store.md" 2>"$work/shared_store.err"; then
    shared_md="$work/shared_store.md"
  else
    note "shared-store benchmark failed: $(tail -1 "$work/shared_store.err")"
  fi
fi
commit=$(cd "$root" && git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
dirty=0
[[ -n "$(cd "$root" && git status --porcelain --untracked-files=no 2>/dev/null)" ]] && dirty=1
peer_desc="not run"
[[ $peer_ok == 1 ]] && peer_desc="node $(node --version), @grpc/grpc-js + isolated-vm $(cd "$peer_dir" && node -p "require('isolated-vm/package.json').version"), pool of 2 isolates, bench/peers/node-isolated-vm/server.js --context reuse|new --bundle (same loadgen, same request shape)"
busy="before the suite: $busy_start; after it (server stopped): $(busy_now)"
export META_COMMAND="bench/run.sh$([[ $smoke == 1 ]] && echo ' --smoke')" META_COMMIT="$commit" META_DIRTY="$dirty" \
  META_MODE="$([[ $smoke == 1 ]] && echo smoke || echo full)" META_WARMUP="$warmup" META_DURATION="$duration" \
  META_ROUNDS="$rounds" META_PINNED="$pinned_done" META_PEER="$peer_desc" META_LOAD_END="$load_end" \
  META_LOAD_START="${load_start:-}" META_BUSY="$busy" \
  META_CONDEMNED="$condemned" META_WALL="$(($(date +%s) - t_start))" META_NOTES="$notes" \
  META_SERVER_NOTE="$build_note" META_MIXED="$mixed_duration"
"$PY" - "$work/meta.json" <<'PY'
import json, os, sys, datetime, platform
e = os.environ
cpu = "unknown CPU"
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip()
        break
mem = "?"
for line in open("/proc/meminfo"):
    if line.startswith("MemTotal"):
        mem = f"{int(line.split()[1]) / 1048576:.1f} GiB RAM"
meta = {
    "command": e["META_COMMAND"], "commit": e["META_COMMIT"], "dirty": e["META_DIRTY"] == "1",
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    "cores": os.cpu_count(), "cpu": cpu, "mem": mem + ", " + platform.platform(),
    "mode": e["META_MODE"], "warmup": e["META_WARMUP"], "duration": e["META_DURATION"],
    "rounds": e["META_ROUNDS"], "pinned": e["META_PINNED"] == "1", "peer": e["META_PEER"],
    "load_start": e["META_LOAD_START"], "load_end": e["META_LOAD_END"], "busy": e["META_BUSY"],
    "condemned_metric": int(e["META_CONDEMNED"]), "wall_seconds": e["META_WALL"],
    "server_note": e["META_SERVER_NOTE"] + f"; mixed-load runs {e['META_MIXED']} s",
    "notes": [l.strip() for l in open(e["META_NOTES"]) if l.strip()],
}
json.dump(meta, open(sys.argv[1], "w"), indent=1)
PY
report_rc=0
keep=()
[[ $smoke == 0 ]] && keep=(--keep_analysis)
"$PY" "$suite_py" report "$work/runs" "$work/meta.json" "$out" --uploads "$work/uploads.json" "${keep[@]}" >&2 ||
  report_rc=$?
if [[ -n "$shared_md" ]]; then
  "$PY" - "$out" "$shared_md" <<'PY'
import sys
out, table = sys.argv[1], open(sys.argv[2]).read().strip()
begin, end = "<!-- shared-store:begin -->", "<!-- shared-store:end -->"
section = (f"{begin}\n## Shared store vs filesystem store (issue 11)\n\n"
           "`bazel run -c opt //bench/shared_store:shared_store_bench`, run by this suite after the "
           "load runs: one fs server and two shared-store replicas on a real PostgreSQL 15 and a "
           "real Ceph radosgw on this machine, interleaved.\n\n" + table + f"\n{end}")
text = open(out).read()
if begin in text and end in text:
    text = text[:text.index(begin)] + section + text[text.index(end) + len(end):]
else:
    text = text.rstrip() + "\n\n" + section + "\n"
open(out, "w").write(text)
PY
fi
log "done in $(($(date +%s) - t_start)) s; results in $out; JSON reports in $work/runs"
if [[ $report_rc != 0 ]]; then
  echo "suite: unexpected errors in the runs (see $out)" >&2
  exit "$report_rc"
fi
