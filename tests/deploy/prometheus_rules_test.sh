#!/usr/bin/env bash
# deploy/prometheus: `promtool check rules` on alerts.yml and `promtool test rules` on
# alerts_test.yml; then a copy with one threshold raised must fail the unit tests, so the
# unit tests are shown to exercise the rules.
source "$(dirname "$(readlink -f "$0")")/lib.sh"
need_tool promtool "install Debian's prometheus package (tools/setup.sh --test)"
dir="$REPO/deploy/prometheus"
promtool check rules "$dir/alerts.yml"
promtool test rules "$dir/alerts_test.yml"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$dir/alerts.yml" "$dir/alerts_test.yml" "$tmp/"
sed -i 's|isopool_memory_used_bytes / isopool_memory_budget_bytes > 0.9|isopool_memory_used_bytes / isopool_memory_budget_bytes > 0.99|' "$tmp/alerts.yml"
! cmp -s "$dir/alerts.yml" "$tmp/alerts.yml" || die "negative control: the threshold line was not found"
if promtool test rules "$tmp/alerts_test.yml" >/dev/null 2>&1; then
  die "alerts_test.yml still passes with the memory-budget threshold at 0.99"
fi
echo "negative control: raised threshold fails the rule tests, as it must"
