#!/usr/bin/env bash
# Side by side: per-call cost at a base commit (before the web runtime) and at this checkout.
#
#   bench/context_cost/compare.sh [BASE_REV] [ROUNDS]    (default: af5417c, 7 rounds)
#
# Builds //bench/context_cost:context_cost (-c opt) here and in a temporary git worktree of
# BASE_REV (this benchmark's source is copied in: it uses only engine APIs that predate the web
# runtime), then runs the two binaries alternately, one round each, so a noisy neighbour hits
# both alike. Prints each case's median over rounds of the mean process CPU microseconds per call.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
base_rev=${1:-af5417c}
rounds=${2:-7}
calls=${CALLS:-2000}
base_dir=$(mktemp -d /tmp/isopool-base.XXXXXX)
cleanup() {
  (cd "$base_dir" && bazel shutdown >/dev/null 2>&1) || true
  git -C "$repo" worktree remove --force "$base_dir" >/dev/null 2>&1 || rm -rf "$base_dir"
}
trap cleanup EXIT
git -C "$repo" worktree add --detach "$base_dir" "$base_rev" >/dev/null 2>&1
mkdir -p "$base_dir/bench/context_cost" "$base_dir/third_party/v8"
cp "$repo/bench/context_cost/context_cost.cc" "$base_dir/bench/context_cost/"
# The base's own BUILD file when it has one: ours may name targets it lacks (engine:pack_process).
[ -f "$base_dir/bench/context_cost/BUILD.bazel" ] ||
  cp "$repo/bench/context_cost/BUILD.bazel" "$base_dir/bench/context_cost/"
ln -sfn "$(readlink -f "$repo/third_party/v8/root")" "$base_dir/third_party/v8/root"
# Since the web runtime the build needs engine/web/npm/node_modules (git-ignored): link ours when
# the base's lock file is the same, else install it there.
lock=engine/web/npm/package-lock.json
if [ -f "$base_dir/$lock" ]; then
  if cmp -s "$repo/$lock" "$base_dir/$lock"; then
    ln -sfn "$repo/engine/web/npm/node_modules" "$base_dir/engine/web/npm/node_modules"
  else
    bash "$repo/tools/npm_test_deps.sh" "$base_dir/engine/web/npm" >/dev/null
  fi
fi

build() {  # dir -> path of the runfiles root
  (cd "$1" && bazel build -c opt //bench/context_cost:context_cost >/dev/null 2>&1) ||
    { echo "compare: build failed in $1" >&2; exit 1; }
  echo "$1/bazel-bin/bench/context_cost/context_cost.runfiles/isopool"
}
new_root=$(build "$repo")
base_root=$(build "$base_dir")

out=$(mktemp -d)
for ((r = 0; r < rounds; r++)); do
  for side in base new; do
    root=$base_root
    [ $side = new ] && root=$new_root
    (cd "$root" && ../../context_cost --rounds=1 --calls="$calls" 2>/dev/null) |
      awk '{print $1, $3}' >>"$out/$side"
  done
done
echo "per-call cost in process CPU, median of $rounds alternating rounds of $calls calls (us):"
printf '%-28s %10s %10s %8s\n' case "base" "new" "new/base"
for c in $(awk '{print $1}' "$out/new" | sort -u); do
  b=$(awk -v c="$c" '$1 == c {print $2}' "$out/base" | sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]; else print "-"}')
  n=$(awk -v c="$c" '$1 == c {print $2}' "$out/new" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  ratio=$(awk -v b="$b" -v n="$n" 'BEGIN {if (b == "-" || b == 0) print "-"; else printf "%.3f", n / b}')
  printf '%-28s %10s %10s %8s\n' "$c" "$b" "$n" "$ratio"
done
rm -rf "$out"
