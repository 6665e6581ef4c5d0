#!/usr/bin/env bash
# The end-to-end load benchmark of issue 6, in one command: `bench/run.sh` (full, writes
# bench/RESULTS.md) or `bench/run.sh --smoke` (a few seconds). See bench/README.md and
# bench/suite/suite.sh.
#   bench/run.sh --baseline=REV [--rounds=N]: the current tree against revision REV, side by
#   side (bench/suite/compare.py; writes bench/BASELINE.md).
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
for arg in "$@"; do
  case "$arg" in
    --baseline=*) exec "${PYTHON:-/usr/bin/python3}" "$here/suite/compare.py" "$@" ;;
  esac
done
exec "$here/suite/suite.sh" "$@"
