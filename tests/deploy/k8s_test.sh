#!/usr/bin/env bash
# deploy/k8s: renders the base, overlays/persistent and overlays/shared-store with `kubectl kustomize` (offline),
# validates every object with kubernetes-models, and checks the consistency rules
# (validate_k8s.mjs says which), and validates alerts.yml wrapped as a PrometheusRule.
source "$(dirname "$(readlink -f "$0")")/lib.sh"
need_node_modules
need_tool kubectl "kubectl (with kustomize) is expected at /usr/bin/kubectl"
node "$REPO/tests/deploy/validate_k8s.mjs" "$(command -v kubectl)" "$REPO/deploy/k8s" \
  "$REPO/deploy/prometheus/alerts.yml"
