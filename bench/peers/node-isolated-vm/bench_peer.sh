#!/usr/bin/env bash
# Measures the Node + isolated-vm peer with the project's load generator: for each context mode,
# starts the peer on a free 127.0.0.1 port, runs `--rpc health` and `--rpc execute --source 1+1`
# RUNS times each, and stops the peer. Prints one table line per run and writes the JSON reports
# to OUT_DIR (one file per run). Bounded: every loadgen run has a hard cap, and so does the wait
# for the peer to listen.
#
#   bazel build -c opt //bench/loadgen && bench/peers/node-isolated-vm/bench_peer.sh
#
# Build the load generator with -c opt: a fastbuild (-O0) client spends CPU the server, sharing
# the 2 cores, would otherwise get. Environment: LOADGEN (default bazel-bin/bench/loadgen/loadgen;
# bazel-bin follows the last build's configuration), RUNS (3), DURATION (10),
# WARMUP (2), CONCURRENCY (16), CHANNELS (2), MODES ("reuse new"), OUT_DIR (a fresh temp dir).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
loadgen="${LOADGEN:-$root/bazel-bin/bench/loadgen/loadgen}"
runs="${RUNS:-3}"
duration="${DURATION:-10}"
warmup="${WARMUP:-2}"
concurrency="${CONCURRENCY:-16}"
channels="${CHANNELS:-2}"
modes="${MODES:-reuse new}"
out_dir="${OUT_DIR:-$(mktemp -d /tmp/peer-bench.XXXXXX)}"
mkdir -p "$out_dir"

[[ -x "$loadgen" ]] || { echo "no loadgen at $loadgen (bazel build //bench/loadgen)" >&2; exit 1; }
[[ -d "$here/node_modules/isolated-vm" ]] || {
  echo "run: (cd $here && npm ci --build-from-source)" >&2
  exit 1
}

peer_pid=""
cleanup() { if [[ -n "$peer_pid" ]]; then kill "$peer_pid" 2>/dev/null || true; wait "$peer_pid" 2>/dev/null || true; fi; }
trap cleanup EXIT

for mode in $modes; do
  listen_file="$out_dir/peer-$mode.listen"
  : >"$listen_file"  # exists before the poll below; the background job opens it asynchronously
  node "$here/server.js" --port 0 --context "$mode" >"$listen_file" 2>"$out_dir/peer-$mode.log" &
  peer_pid=$!
  port=""
  for _ in $(seq 1 100); do
    port="$(awk '/^LISTENING/ {print $2}' "$listen_file" 2>/dev/null || true)"
    [[ -n "$port" ]] && break
    sleep 0.1
  done
  [[ -n "$port" ]] || { echo "peer ($mode) did not listen within 10 s" >&2; cat "$out_dir/peer-$mode.log" >&2; exit 1; }
  for i in $(seq 1 "$runs"); do
    for rpc in health execute; do
      args=(--rpc="$rpc")
      [[ "$rpc" == execute ]] && args+=(--source='1+1')
      "$loadgen" --target="127.0.0.1:$port" "${args[@]}" --label="peer-$mode-$rpc" \
        --concurrency="$concurrency" --channels="$channels" --warmup_seconds="$warmup" \
        --duration_seconds="$duration" --hard_cap_seconds="$(awk "BEGIN {print $duration + $warmup + 30}")" \
        --json_out="$out_dir/peer-$mode-$rpc-$i.json"
    done
  done
  cleanup
  peer_pid=""
done
echo "JSON reports: $out_dir" >&2
# Medians over the runs, as a Markdown table (latencies in ms).
python3 - "$out_dir" $modes <<'PY'
import glob, json, statistics, sys
out_dir, modes = sys.argv[1], sys.argv[2:]
print("| context | rpc | runs | req/s (median) | p50 ms | p90 ms | p99 ms | p99.9 ms | errors | req/s per run | load avg at start |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for mode in modes:
    for rpc in ("health", "execute"):
        runs = [json.load(open(f)) for f in sorted(glob.glob(f"{out_dir}/peer-{mode}-{rpc}-*.json"))]
        if not runs:
            continue
        med = lambda key: statistics.median(r["latency"][key] for r in runs) / 1000
        rates = [r["requests_per_second"] for r in runs]
        loads = ", ".join("%.1f" % r.get("loadavg_start", -1) for r in runs)
        print(f"| {mode} | {'health' if rpc == 'health' else 'execute 1+1'} | {len(runs)} "
              f"| {statistics.median(rates):.0f} | {med('p50'):.2f} | {med('p90'):.2f} "
              f"| {med('p99'):.2f} | {med('p999'):.2f} "
              f"| {sum(r['unexpected_errors'] for r in runs)} "
              f"| {', '.join(f'{x:.0f}' for x in rates)} "
              f"| {loads} |")
PY
