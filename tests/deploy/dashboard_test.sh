#!/usr/bin/env bash
# deploy/grafana/dashboard.json parses, every metric its queries read is a family the server
# exports (expected_metric_families.txt, from the service contract), and every family is shown.
# metric_names.py also accepts a real /metrics payload in place of the list.
source "$(dirname "$(readlink -f "$0")")/lib.sh"
need_tool python3 "install python3 (tools/setup.sh --test)"
python3 "$REPO/tests/deploy/metric_names_test.py"
families="$REPO/tests/deploy/expected_metric_families.txt"
python3 "$REPO/tests/deploy/metric_names.py" "$REPO/deploy/grafana/dashboard.json" "$families" \
  --expect-used "$families"
