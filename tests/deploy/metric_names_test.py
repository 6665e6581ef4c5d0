#!/usr/bin/env python3
"""Tests metric_names.py: the PromQL name extractor, both kinds of name list, and its verdicts."""

import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import metric_names  # noqa: E402

PAYLOAD = """\
# HELP isopool_execute_duration_seconds Execute duration.
# TYPE isopool_execute_duration_seconds histogram
isopool_execute_duration_seconds_bucket{outcome="ok",le="0.005"} 3
isopool_execute_duration_seconds_bucket{outcome="ok",le="+Inf"} 4
isopool_execute_duration_seconds_sum{outcome="ok"} 0.01
isopool_execute_duration_seconds_count{outcome="ok"} 4
# HELP isopool_executions_total Executions.
# TYPE isopool_executions_total counter
isopool_executions_total{outcome="ok"} 4
"""


class ExtractTest(unittest.TestCase):
    def test_histogram_quantile_with_grouping_and_grafana_vars(self):
        self.assertEqual(
            metric_names.metric_names_in(
                'histogram_quantile(0.99, sum by (type, le) '
                '(rate(isopool_gc_pause_seconds_bucket{job=~"$job",x="a{b}"}[$__rate_interval])))'),
            ["isopool_gc_pause_seconds_bucket"])

    def test_binary_ops_matching_offsets_numbers(self):
        self.assertEqual(
            metric_names.metric_names_in(
                "a_total / on (instance) group_left (job) b_bytes > bool 1e3 "
                "and rate(c_total[5m] offset 1h) > 0.5 unless sum without (le) (d) > Inf"),
            ["a_total", "b_bytes", "c_total", "d"])

    def test_aggregations_and_bare_selectors(self):
        self.assertEqual(metric_names.metric_names_in("topk(5, sum(x) by (y))"), ["x"])
        self.assertEqual(metric_names.metric_names_in('z{a="b"}'), ["z"])
        self.assertEqual(metric_names.metric_names_in("vector(1)"), [])

    def test_label_values_variable_yields_its_selector_only(self):
        dash = {"templating": {"list": [
            {"query": 'label_values(isopool_executions_total{job=~"$job"}, instance)'},
            {"query": "label_values(job)"},
            {"query": {"query": "label_values(isopool_snapshots, job)"}},
        ]}}
        got = [metric_names.metric_names_in(e) for _, e in metric_names.exprs_in(dash)]
        self.assertEqual(got, [["isopool_executions_total"], ["isopool_snapshots"]])


class CheckTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, self.dir)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text if isinstance(text, str) else json.dumps(text))
        return path

    def run_main(self, *args):
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            rc = metric_names.main(["metric_names.py", *args])
        return rc, out.getvalue()

    def dashboard(self, *exprs):
        return self.write("d.json", {"panels": [{"targets": [{"expr": e} for e in exprs]}]})

    def test_payload_families_allow_histogram_suffixes(self):
        names = self.write("metrics.txt", PAYLOAD)
        self.assertEqual(metric_names.load_names(names) >= {
            "isopool_execute_duration_seconds", "isopool_executions_total"}, True)
        rc, out = self.run_main(self.dashboard(
            "histogram_quantile(0.5, sum by (le) (rate(isopool_execute_duration_seconds_bucket[5m])))",
            "rate(isopool_execute_duration_seconds_count[5m])",
            "sum(rate(isopool_executions_total[5m]))"), names)
        self.assertEqual(rc, 0, out)

    def test_unknown_metric_fails_and_is_named(self):
        names = self.write("names.txt", "# comment\nisopool_executions_total\n")
        rc, out = self.run_main(self.dashboard("rate(isopool_executons_total[5m])"), names)
        self.assertEqual(rc, 1)
        self.assertIn("unknown metric 'isopool_executons_total'", out)

    def test_suffix_only_allowed_on_families(self):
        names = self.write("names.txt", "isopool_executions\n")
        rc, out = self.run_main(self.dashboard("isopool_executions_bucket_total"), names)
        self.assertEqual(rc, 1, out)

    def test_query_without_metric_fails(self):
        names = self.write("names.txt", "x\n")
        rc, out = self.run_main(self.dashboard("vector(1)"), names)
        self.assertEqual(rc, 1)
        self.assertIn("no metric name found", out)

    def test_expect_used_reports_missing_family(self):
        names = self.write("names.txt", "a\nb\n")
        rc, out = self.run_main(self.dashboard("a"), names, "--expect-used", names)
        self.assertEqual(rc, 1)
        self.assertIn("no query uses 'b'", out)

    def test_not_json_is_bad_input(self):
        names = self.write("names.txt", "a\n")
        rc, _ = self.run_main(self.write("bad.json", "{panels: ["), names)
        self.assertEqual(rc, 2)


if __name__ == "__main__":
    unittest.main(verbosity=1)
