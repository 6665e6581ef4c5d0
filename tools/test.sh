#!/usr/bin/env bash
# Quick start, part 2: installs what is missing and runs the whole test suite.
# Prints Bazel's per-target results, then one plain line "N passed, N failed" counting test
# targets (from Bazel's Build Event Protocol: tools/bep_test_counts.py; cached passes count as
# passed; flaky, timed out, not run and failed to build count as failed; a build that broke
# before any test target was known counts as one failure); exits non-zero when any failed.
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

# Bazel prints its per-target results; the counts come from its Build Event Protocol file
# (tools/bep_test_counts.py), not from that text.
bep=$(mktemp)
trap 'rm -f "$bep"' EXIT
bazel test --noshow_progress --test_summary=short --test_output=errors \
  --build_event_json_file="$bep" "$@" //...
bazel_status=$?
read -r passed failed < <(/usr/bin/python3 tools/bep_test_counts.py "$bep")
[[ "${passed:-}${failed:-}" =~ ^[0-9]+$ ]] || { passed=0 failed=1; }  # the counter itself broke
lint_status=0
if [ $lint = 1 ]; then
  bash tools/lint.sh
  lint_status=$?
  if [ $lint_status -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$bazel_status" -eq 0 ] && [ $lint_status -eq 0 ]
