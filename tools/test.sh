#!/usr/bin/env bash
# Quick start, part 2: installs what is missing and runs the whole test suite.
# Prints Bazel's per-target results, then one plain line "N passed, N failed" counting test
# targets; exits non-zero when any target failed (or failed to build).
#   --lint   first argument: also runs tools/lint.sh after the tests (on the built tree) and
#            counts it as one more target (CI does this: .ci/run).
# Other arguments go to `bazel test` (e.g. --config=asan).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
lint=0
if [ "${1:-}" = "--lint" ]; then
  lint=1
  shift
fi
bash tools/setup.sh --test || exit 1
# npm packages some tests read (Bazel tests cannot install them into the source tree).
for dir in tests/deploy examples/node tests/web_bundles; do
  [ -f "$dir/package-lock.json" ] && { bash tools/npm_test_deps.sh "$dir" || exit 1; }
done

log=$(mktemp)
trap 'rm -f "$log"' EXIT
bazel test --noshow_progress --test_summary=short --test_output=errors "$@" //... 2>&1 | tee "$log"
bazel_status=${PIPESTATUS[0]}

# Bazel's summary lines: "//pkg:target   PASSED in 1.2s", "(cached) PASSED", "FAILED", ...
passed=$(grep -cE '^//[^ ]+[[:space:]]+(\(cached\) )?PASSED' "$log")
failed=$(grep -cE '^//[^ ]+[[:space:]]+(\(cached\) )?(FAILED|TIMEOUT|NO STATUS|INCOMPLETE|FLAKY|FAILED TO BUILD)' "$log")
if [ "$bazel_status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1  # the build itself broke before any target ran
fi
lint_status=0
if [ $lint = 1 ]; then
  bash tools/lint.sh
  lint_status=$?
  if [ $lint_status -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$bazel_status" -eq 0 ] && [ $lint_status -eq 0 ]
