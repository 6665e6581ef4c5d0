#!/usr/bin/env bash
# Quick start, part 1: installs what is missing, builds, and starts isopool_server with its
# embedded defaults (gRPC on 127.0.0.1:50051, metrics on 127.0.0.1:9464, data in ./.data).
# Extra arguments are passed to the server, e.g. tools/start.sh --listen=127.0.0.1:6000
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/setup.sh
exec bazel run -c opt --noshow_progress --ui_event_filters=-info,-stderr \
  //service:isopool_server -- --data_dir="$PWD/.data" "$@"
