#!/usr/bin/python3
"""A REAL Prometheus scrapes a REAL isopool_server; the numbers it stores match the traffic.

1. Starts isopool_server (port 0) and /usr/bin/prometheus on loopback, scraping the server's
   /metrics every second and loading deploy/prometheus/alerts.yml as a rule file.
2. Uploads a bundle, then drives two phases of Execute traffic (a few hundred calls: ok,
   exception, syntax error, timeout, NOT_FOUND), waiting for Prometheus to scrape each phase.
3. Through Prometheus's HTTP API:
   - isopool_executions_total per outcome equals the calls made per outcome, exactly;
   - grpc_server_handled_total for Execute per code, and the upload's build, likewise;
   - the p99 of isopool_execute_duration_seconds (histogram_quantile over rate) is finite and
     positive;
   - /api/v1/rules shows the alerts.yml group, every rule evaluated with health "ok";
   - every query of deploy/grafana/dashboard.json and of alerts.yml runs without error.
Everything runs within one 55 s budget; both processes are stopped at exit, pass or fail.
"""
import math
import os
import sys

sys.dont_write_bytecode = True  # unsandboxed: no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import live  # noqa: E402
from live import Fail  # noqa: E402

JOB = "isopool"
P99 = ("histogram_quantile(0.99, sum by (le) "
       "(rate(isopool_execute_duration_seconds_bucket[30s])))")


def by_label(prom, expr, label):
    return {s["metric"].get(label, ""): float(s["value"][1]) for s in prom.query(expr)}


def wait_for_count(deadline, prom, want, what):
    expr = f'sum(isopool_executions_total{{job="{JOB}"}})'
    deadline.wait_for(f"Prometheus to see {want} executions ({what})",
                      lambda: prom.scalar(expr) == want, interval=0.25, limit=15)


def check_rules(deadline, prom, alerts_path):
    want_alerts = [name for name, _ in live.rule_exprs(alerts_path)]

    def evaluated_group():
        groups = [g for g in prom.get("/api/v1/rules")["groups"]
                  if os.path.realpath(g["file"]) == os.path.realpath(alerts_path)]
        if len(groups) != 1:
            raise Fail(f"expected one rule group from {alerts_path}, got "
                       f"{[(g['name'], g['file']) for g in groups]}")
        # A rule's health is "unknown" until its first evaluation (every second here).
        return groups[0] if all(r["health"] != "unknown" for r in groups[0]["rules"]) else None

    group = deadline.wait_for("every alert rule to be evaluated", evaluated_group, limit=10)
    got = [r["name"] for r in group["rules"]]
    if got != want_alerts:
        raise Fail(f"rules loaded {got}, alerts.yml has {want_alerts}")
    for rule in group["rules"]:
        if rule["type"] != "alerting" or rule["health"] != "ok" or rule.get("lastError"):
            raise Fail(f"rule {rule['name']}: type {rule['type']}, health {rule['health']}, "
                       f"error {rule.get('lastError')!r}")
    print(f"ok   rule group {group['name']!r}: {len(got)} alerting rules evaluated, health ok")


def check_queries_run(prom):
    """Every dashboard and alert query, with Grafana's variables filled in, runs in Prometheus."""
    metric_names = live.import_metric_names()
    dashboard = os.path.join(live.REPO, "deploy", "grafana", "dashboard.json")
    alerts = os.path.join(live.REPO, "deploy", "prometheus", "alerts.yml")
    queries = live.dashboard_exprs(metric_names, dashboard) + live.rule_exprs(alerts)
    if len(queries) < 10:
        raise Fail(f"found only {len(queries)} queries in the dashboard and alerts")
    for where, expr in queries:
        filled = (expr.replace("$__rate_interval", "30s").replace("$job", JOB)
                  .replace("$instance", ".*"))
        try:
            prom.query(filled)
        except Fail as e:
            raise Fail(f"{where}: {e}")
    jobs = prom.get("/api/v1/label/job/values", **{"match[]": "isopool_executions_total"})
    if JOB not in jobs:
        raise Fail(f"the dashboard's $job variable would not list {JOB!r}: {jobs}")
    print(f"ok   {len(queries)} dashboard and alert queries run in Prometheus")


def main():
    deadline = live.Deadline(55)
    alerts = os.path.join(live.REPO, "deploy", "prometheus", "alerts.yml")
    server = live.start_server(deadline)
    prom = live.start_prometheus(deadline, server.metrics_port, [alerts], job=JOB)
    deadline.wait_for("the first scrape (up == 1)",
                      lambda: prom.scalar(f'up{{job="{JOB}"}}') == 1, interval=0.25, limit=15)
    print(f"ok   prometheus on :{prom.port} scrapes the server's /metrics on "
          f":{server.metrics_port}")

    client = live.Client(server.address)
    uploaded = client.upload("monitoring-bundle", live.BUNDLE, entry="handler")
    if not uploaded.created:
        raise Fail("the upload to a fresh data dir was not created")
    traffic = live.Traffic()
    live.drive_traffic(client, traffic, ok_calls=100, uploaded_name="monitoring-bundle")
    wait_for_count(deadline, prom, traffic.executions(), "phase 1")
    # A second phase, so that rate() over the window sees every family's series increase.
    live.drive_traffic(client, traffic, ok_calls=200, uploaded_name="monitoring-bundle")
    wait_for_count(deadline, prom, traffic.executions(), "phase 2")
    client.close()
    print(f"ok   drove {traffic.executions()} Execute calls: {sorted(traffic.outcomes.items())}")

    got = by_label(prom, f'isopool_executions_total{{job="{JOB}"}}', "outcome")
    if got != {k: float(v) for k, v in traffic.outcomes.items()}:
        raise Fail(f"isopool_executions_total by outcome is {got}, calls made {traffic.outcomes}")
    print(f"ok   isopool_executions_total by outcome = calls made: {got}")

    got = by_label(prom, f'grpc_server_handled_total{{job="{JOB}", '
                   f'grpc_service="isopool.v1.Isopool", grpc_method="Execute"}}', "grpc_code")
    want = {code: float(n) for (method, code), n in traffic.codes.items() if method == "Execute"}
    if got != want:
        raise Fail(f"grpc_server_handled_total for Execute by code is {got}, expected {want}")
    print(f"ok   grpc_server_handled_total for Execute by code: {got}")

    builds = prom.scalar(f'isopool_snapshot_builds_total{{job="{JOB}", result="created"}}')
    if builds != 1:
        raise Fail(f"isopool_snapshot_builds_total{{result=\"created\"}} is {builds}, expected 1")
    timeouts = traffic.outcomes["timeout"]
    condemned = prom.scalar(f'isopool_isolates_condemned_total{{job="{JOB}", reason="timeout"}}')
    if condemned != timeouts:
        raise Fail(f"isopool_isolates_condemned_total{{reason=\"timeout\"}} is {condemned}, "
                   f"expected {timeouts} (one per timed-out call)")
    print("ok   one build created; one condemnation per timeout")

    p99 = prom.scalar(P99)
    if p99 is None or not math.isfinite(p99) or p99 <= 0:
        raise Fail(f"{P99} = {p99}, expected a finite positive number")
    print(f"ok   Execute p99 from Prometheus: {p99 * 1000:.2f} ms")

    check_rules(deadline, prom, alerts)
    check_queries_run(prom)
    if not server.running() or prom.proc.poll() is not None:
        raise Fail("the server or prometheus exited during the test")
    print(f"PASS with {deadline.left():.1f} s of the 55 s budget left")


if __name__ == "__main__":
    try:
        main()
    except Fail as e:
        print(f"FAIL: {e}", file=sys.stderr)
        live.dump_logs()
        sys.exit(1)
