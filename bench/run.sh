#!/usr/bin/env bash
# The end-to-end load benchmark of issue 6, in one command: `bench/run.sh` (full, writes
# bench/RESULTS.md) or `bench/run.sh --smoke` (a few seconds); `--help` lists the flags. It runs
# bench/suite/suite.py; bench/README.md explains both.
#   bench/run.sh --baseline=REV [--rounds=N]: the current tree against revision REV, side by
#   side (bench/suite/compare.py; writes bench/BASELINE.md).
# PYTHON: the interpreter (default /usr/bin/python3, which has Debian's grpcio).
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
driver="$here/suite/suite.py"
for arg in "$@"; do
  case "$arg" in
    --baseline=*) driver="$here/suite/compare.py" ;;
  esac
done
exec "${PYTHON:-/usr/bin/python3}" "$driver" "$@"
