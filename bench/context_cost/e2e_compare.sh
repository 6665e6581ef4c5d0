#!/usr/bin/env bash
# End to end, side by side: the `context` and `shared` rows of bench/run.sh (echo(1) at
# concurrency 16, and blank `1+1`) against two servers at once, one built from a base commit
# (before the web runtime) and one from this checkout, alternating runs so a noisy neighbour
# hits both alike.
#
#   bench/context_cost/e2e_compare.sh [BASE_REV] [ROUNDS]   (default: main, 3 rounds of 5 s)
#
# Builds -c opt server, pack, isopoolctl and loadgen in both trees (the base in a temporary git
# worktree), starts both servers on 127.0.0.1 port 0 with default flags and temp data dirs,
# uploads echo with --isolation context and shared to each, then prints per row the median
# over rounds of requests/s and of p50/p99 latency. The load generator is not pinned apart.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
base_rev=${1:-main}
rounds=${2:-3}
duration=${DURATION:-5}
work=$(mktemp -d /tmp/isopool-e2e-compare.XXXXXX)
base_dir="$work/base-tree"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  (cd "$base_dir" 2>/dev/null && bazel shutdown >/dev/null 2>&1) || true
  git -C "$repo" worktree remove --force "$base_dir" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
git -C "$repo" worktree add --detach "$base_dir" "$base_rev" >/dev/null 2>&1
mkdir -p "$base_dir/third_party/v8"
ln -sfn "$(readlink -f "$repo/third_party/v8/root")" "$base_dir/third_party/v8/root"

targets=(//service:isopool_server //engine:isopool_pack //bench/loadgen:loadgen //cli:isopoolctl)
for side in base new; do
  tree=$repo
  [ $side = base ] && tree=$base_dir
  (cd "$tree" && bazel build -c opt "${targets[@]}" >/dev/null 2>&1) ||
    { echo "e2e_compare: build failed in $tree" >&2; exit 1; }
  mkdir -p "$work/$side"
  for f in service/isopool_server engine/isopool_pack bench/loadgen/loadgen cli/isopoolctl; do
    cp "$tree/bazel-out/k8-opt/bin/$f" "$work/$side/"
  done
done

declare -A addr
for side in base new; do
  mkdir -p "$work/$side/data"
  "$work/$side/isopool_server" --listen=127.0.0.1:0 --metrics_listen= --data_dir="$work/$side/data" \
    --pack_binary="$work/$side/isopool_pack" 2>"$work/$side/server.log" &
  pids+=($!)
  port=""
  for _ in $(seq 300); do
    port=$(sed -n 's/.*"event":"start".*"port":\([0-9]*\).*/\1/p' "$work/$side/server.log" | head -1)
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { cat "$work/$side/server.log" >&2; exit 1; }
  addr[$side]="127.0.0.1:$port"
  echo 'function echo(x) { return x; }' >"$work/echo.js"
  for mode in context shared; do
    "$work/$side/isopoolctl" --addr "${addr[$side]}" upload "$work/echo.js" --name "echo-$mode" \
      --isolation "$mode" --prewarm >/dev/null
  done
done

# run SIDE ROW LOADGEN-FLAGS...: one run; appends "ROW rps p50_ms p99_ms" to $work/SIDE.rows.
run() {
  local side=$1 row=$2
  shift 2
  "$work/new/loadgen" --target="${addr[$side]}" --label="$row" --concurrency=16 --channels=2 \
    --warmup_seconds=1 --duration_seconds="$duration" --hard_cap_seconds=60 \
    --json_out="$work/run.json" --rpc=execute "$@" >/dev/null 2>&1
  /usr/bin/python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
l = d.get("latency_us") or d.get("latency") or {}
print(sys.argv[2], round(d["requests_per_second"]), round(l.get("p50", 0) / 1000, 2), round(l.get("p99", 0) / 1000, 2))' \
    "$work/run.json" "$row" >>"$work/$side.rows"
}
for ((r = 0; r < rounds; r++)); do
  for side in base new; do run $side context --snapshot=echo-context --function=echo --args_json='[1]'; done
  for side in base new; do run $side shared --snapshot=echo-shared --function=echo --args_json='[1]'; done
  for side in base new; do run $side blank --source='1+1'; done
done
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "end to end, concurrency 16, median of $rounds alternating rounds of ${duration} s (load generator not pinned):"
printf '%-8s %12s %12s %8s %14s %14s\n' row "base req/s" "new req/s" new/base "p50 base/new" "p99 base/new"
for row in context shared blank; do
  get() { awk -v r="$row" -v c="$2" '$1 == r {print $c}' "$work/$1.rows" | median; }
  b=$(get base 2) n=$(get new 2)
  printf '%-8s %12s %12s %8s %14s %14s\n' "$row" "$b" "$n" "$(awk -v b="$b" -v n="$n" 'BEGIN {printf "%.3f", n / b}')" \
    "$(get base 3)/$(get new 3)" "$(get base 4)/$(get new 4)"
done
