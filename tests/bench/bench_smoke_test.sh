#!/usr/bin/env bash
# Runs the benchmark suite's smoke mode (bench/run.sh --smoke, i.e. bench/suite/suite.py) against
# the Bazel-built server, pack, loadgen and isopoolctl, and checks that it exits 0 and that the
# results file it wrote holds every row and verdict the smoke mode is meant to exercise: the
# floor, the three isolation modes and the blank snapshot, the mixed load with hostile calls and
# condemned isolates, and scenario 4's uploads. The suite itself fails on any unexpected error.
set -euo pipefail
RUNFILES=${RUNFILES_DIR:-${TEST_SRCDIR:?run me with bazel test}}
WS="$RUNFILES/isopool"
export ISOPOOL_SERVER="$WS/service/isopool_server" ISOPOOL_PACK="$WS/engine/isopool_pack"
export LOADGEN="$WS/bench/loadgen/loadgen" ISOPOOLCTL="$WS/cli/isopoolctl"
export TMPDIR="${TEST_TMPDIR:?}"
out="$TEST_TMPDIR/RESULTS.md"
start=$(date +%s)
"$WS/bench/run.sh" --smoke --out "$out"
elapsed=$(($(date +%s) - start))
echo "smoke suite took ${elapsed}s"

failures=0
expect() {  # expect DESCRIPTION REGEX: the results file has a line matching REGEX
  if grep -Eq -- "$2" "$out"; then echo "ok   $1"; else echo "FAIL $1: no line matching /$2/" >&2; failures=$((failures + 1)); fi
}
num='[0-9][0-9,]*'
expect "floor row with a rate and no errors" "^\| floor: grpc.health.v1/Check \| — \| 2 \| 1 \| $num \|.*\| 0 \|"
for mode in fresh context shared; do
  expect "echo row in $mode mode" "^\| S1 echo\(x\) from a snapshot \| $mode \| 2 \| 1 \| $num \|.*\| 0 \|"
done
expect "blank snapshot row" "^\| S1 inline \`1\+1\`, blank snapshot \|.*\| 0 \|"
expect "mixed clean row" "^\| S3 echo\(x\), mixed load \| context, clean \|.*\| 0 \|"
expect "mixed hostile row with condemned isolates" \
  "^\| S3 echo\(x\), mixed load \| context, 1% hostile \|.*hostile calls: [1-9][0-9]* .*condemned [1-9][0-9]* \(loadgen\) / [1-9][0-9]* \(server metric\)"
expect "upload throughput row" "^\| 1 \| 3 \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| 0 \| 0 \|"
expect "first Execute after upload, no prewarm" "^\| no \| 1 \| [0-9.]+ \|"
expect "first Execute after upload, prewarm" "^\| yes \| 1 \| [0-9.]+ \|"
expect "zero unexpected errors verdict" "^\| unexpected errors, all isopool runs \(uploads included\) \| 0 \| 0 \| met \|"
expect "mixed-load ratio computed" "^\| mixed load: well-behaved p99 / clean p99 \| [0-9.]+x \|"
if [ "$elapsed" -ge 30 ]; then
  echo "FAIL the smoke suite took ${elapsed}s (budget 30 s)" >&2
  failures=$((failures + 1))
fi
[ "$failures" -eq 0 ] || { echo "--- $out" >&2; cat "$out" >&2; exit 1; }
echo "all checks passed"
