#!/usr/bin/python3
"""Every metric deploy/grafana/dashboard.json and deploy/prometheus/alerts.yml read is in a REAL
/metrics payload of isopool_server, with every label they match on or group by (other than the
target labels job, instance and namespace), and that payload passes `promtool check metrics`.

Labelled families (executions by outcome, builds by result, condemnations by reason, gRPC by
method and code) appear only once they have a sample, so the test first drives traffic that
produces each: an upload (build created), ok calls, an exception, a syntax error, a timeout (which
condemns its isolate) and a NOT_FOUND (rejected).

The names are extracted by tests/deploy/metric_names.py (the same PromQL tokenizer the static
deploy test uses); its CLI checks the dashboard against the payload. A negative control removes
one family from the payload and expects that check to fail.
"""
import json
import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True  # unsandboxed: no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))
import live  # noqa: E402
from live import Fail  # noqa: E402


SHARED_STORE_PREFIX = "isopool_store_"

# Labels Prometheus adds at scrape time (or Kubernetes service discovery does), not the server.
TARGET_LABELS = {"job", "instance", "namespace"}
SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s")
SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")


def labels_by_series_name(payload):
    """{series name (with _bucket etc.): set of label names} from a text-format payload."""
    labels = {}
    for line in payload.splitlines():
        m = SAMPLE.match(line)
        if m and not line.startswith("#"):
            found = set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)=\"", m.group(2) or ""))
            labels.setdefault(m.group(1), set()).update(found)
    return labels


def label_problems(where, expr, names, labels):
    """Label names a query matches on or groups by that its series do not carry."""
    problems = []
    for name, matchers in SELECTOR.findall(expr):
        for label in set(MATCHER.findall(matchers)) - TARGET_LABELS:
            if label not in labels.get(name, set()):
                problems.append(f"{where}: {name} has no label {label!r}")
    carried = set().union(*(labels.get(n, set()) for n in names)) | {"le"}
    for group in GROUPING.findall(expr):
        for label in {l.strip() for l in group.split(",") if l.strip()} - TARGET_LABELS:
            if label not in carried:
                problems.append(f"{where}: groups by {label!r}, which none of {names} carries")
    return problems


def main():
    deadline = live.Deadline(55)
    promtool = live.need("/usr/bin/promtool", "Debian's prometheus package")
    metric_names = live.import_metric_names()
    dashboard = os.path.join(live.REPO, "deploy", "grafana", "dashboard.json")
    alerts = os.path.join(live.REPO, "deploy", "prometheus", "alerts.yml")

    server = live.start_server(deadline)
    client = live.Client(server.address)
    client.upload("monitoring-bundle", live.BUNDLE, entry="handler")
    traffic = live.Traffic()
    live.drive_traffic(client, traffic, ok_calls=20, uploaded_name="monitoring-bundle")
    client.close()
    payload = server.metrics()
    path = os.path.join(live.TMP, "metrics.txt")
    with open(path, "w") as f:
        f.write(payload)
    families = metric_names.load_names(path)
    print(f"ok   live /metrics after {traffic.executions()} calls and an upload: "
          f"{len(families)} families")

    # 1. Every name each dashboard query and each alert rule reads.
    queries = [("dashboard " + w, e) for w, e in live.dashboard_exprs(metric_names, dashboard)]
    queries += [("alert " + n, e) for n, e in live.rule_exprs(alerts)]
    missing, used = [], set()
    labels = labels_by_series_name(payload)
    for where, expr in queries:
        names = metric_names.metric_names_in(expr)
        # The shared snapshot store's families exist only with --snapshot_store=shared, which
        # needs PostgreSQL and Ceph: tests/e2e:shared_store_test checks them on a live replica.
        if names and all(n.startswith(SHARED_STORE_PREFIX) for n in names):
            continue
        missing += label_problems(where, expr, names, labels)
        if not names:
            missing.append(f"{where}: no metric name found in {expr!r}")
        for name in names:
            if metric_names.known(name, families):
                used.add(metric_names.family_of(name, families))
            else:
                missing.append(f"{where}: {name!r} is not in the server's /metrics")
    if missing:
        raise Fail("metrics referenced but not exported:\n  " + "\n  ".join(missing))
    print(f"ok   {len(queries)} dashboard and alert queries read {len(used)} families, "
          f"all exported with the labels they match and group by: {', '.join(sorted(used))}")

    # 2. The same through metric_names.py's own CLI, as the static deploy test runs it.
    # (without the shared-store panels, for the reason above)
    with open(dashboard) as f:
        board = json.load(f)
    board["panels"] = [
        p for p in board["panels"]
        if not any(SHARED_STORE_PREFIX in t.get("expr", "") for t in p.get("targets", []))
        and "snapshot_store=shared" not in p.get("title", "")]
    fs_dashboard = os.path.join(live.TMP, "dashboard-fs.json")
    with open(fs_dashboard, "w") as f:
        json.dump(board, f)
    cli = [sys.executable, metric_names.__file__, fs_dashboard]
    result = subprocess.run(cli + [path], capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise Fail(f"metric_names.py dashboard vs live payload:\n{result.stdout}{result.stderr}")
    print(f"ok   metric_names.py: {result.stdout.strip()}")

    # Negative control: without one family the dashboard uses, the same check must fail.
    dropped = "isopool_isolates_condemned_total"
    if dropped not in used:
        raise Fail(f"negative control needs a family the dashboard uses; {dropped} is not")
    cut = os.path.join(live.TMP, "metrics_without_one.txt")
    with open(cut, "w") as f:
        f.write("".join(l for l in payload.splitlines(True) if dropped not in l))
    result = subprocess.run(cli + [cut], capture_output=True, text=True, timeout=30)
    if result.returncode != 1 or dropped not in result.stdout:
        raise Fail(f"metric_names.py passed a payload without {dropped}: {result.stdout}")
    print(f"ok   negative control: a payload without {dropped} fails the check")

    # 3. Prometheus's own linter on the live payload.
    result = subprocess.run([promtool, "check", "metrics"], input=payload, capture_output=True,
                            text=True, timeout=30)
    if result.returncode != 0:
        raise Fail(f"promtool check metrics on the live payload:\n{result.stdout}{result.stderr}")
    print("ok   promtool check metrics: no problems")
    if not server.running():
        raise Fail("the server exited during the test")
    print(f"PASS with {deadline.left():.1f} s of the 55 s budget left")


if __name__ == "__main__":
    try:
        main()
    except Fail as e:
        print(f"FAIL: {e}", file=sys.stderr)
        live.dump_logs()
        sys.exit(1)
