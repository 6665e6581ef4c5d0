#!/usr/bin/env bash
# The end-to-end load benchmark of issue 6, in one command: `bench/run.sh` (full, writes
# bench/RESULTS.md) or `bench/run.sh --smoke` (a few seconds). See bench/README.md and
# bench/suite/suite.sh.
exec "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/suite/suite.sh" "$@"
