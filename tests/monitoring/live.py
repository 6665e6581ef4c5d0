"""Shared parts of the monitoring tests: a REAL isopool_server, a REAL Prometheus, and traffic.

Imported by the tests in this folder (run with Debian's /usr/bin/python3 by Bazel, tags
"local" + "external": they need the system's prometheus/promtool and loopback ports).

- `Deadline`: one time budget for a whole test; every wait is bounded by it.
- `start_server()`: isopool_server on port 0 (gRPC and /metrics) through tests/harness/launcher.py,
  with a data dir under $TEST_TMPDIR; ready when its port file appears.
- `start_prometheus()`: /usr/bin/prometheus on a free loopback port, storage in $TEST_TMPDIR.
- `Client`: Execute and UploadSnapshot through examples/python/client.py (messages generated
  with protoc at run time, no generated gRPC code), plus `drive_traffic()`, which returns how
  many calls it made per `isopool_executions_total` outcome.
- Every process started here is stopped (SIGTERM, then SIGKILL) at exit, on SIGTERM from Bazel's
  timeout too; and the kernel kills them if this process dies without cleaning up (PDEATHSIG).

Nothing is skipped: a missing tool raises `Fail`, naming `tools/setup.sh --test`.
"""
import atexit
import ctypes
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

RUNFILES = os.environ.get("RUNFILES_DIR") or os.environ.get("TEST_SRCDIR") or ""
WS = os.path.join(RUNFILES, "isopool")
TMP = os.environ.get("TEST_TMPDIR") or tempfile.mkdtemp(prefix="isopool-monitoring-")
SETUP_HINT = "run tools/setup.sh --test"
sys.path.insert(0, os.path.join(WS, "tests", "harness"))
import launcher  # noqa: E402  (//tests/harness:python_launcher)

# The repository itself (for deploy/ files): these tests run unsandboxed ("local"), so the
# script's runfiles symlink leads back to the source tree, as in tests/deploy/lib.sh.
REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.realpath(sys.argv[0])), "..", ".."))
if not os.path.isfile(os.path.join(REPO, "deploy", "prometheus", "alerts.yml")):
    sys.exit(f"FAIL: cannot find the repository from {sys.argv[0]} (run with bazel test)")


class Fail(Exception):
    """A test failure with a message that says what was expected."""


def need(path, what):
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise Fail(f"{path} not found ({what}); {SETUP_HINT}")
    return path


class Deadline:
    def __init__(self, seconds):
        self.end = time.monotonic() + seconds

    def left(self):
        return self.end - time.monotonic()

    def wait_for(self, what, probe, interval=0.2, limit=None):
        """Calls probe() until it returns a truthy value; Fail after `limit` s or the deadline."""
        end = self.end if limit is None else min(self.end, time.monotonic() + limit)
        last = None
        while True:
            try:
                value = probe()
                if value:
                    return value
                last = value
            except (OSError, ValueError, urllib.error.URLError) as e:
                last = e
            if time.monotonic() >= end:
                raise Fail(f"timed out waiting for {what} (last: {last!r})")
            time.sleep(interval)


# ---------------------------------------------------------------------------------------------
# Processes

_PROCS = []


def _stop_all():
    for proc, _ in reversed(_PROCS):
        if proc.poll() is None:
            proc.terminate()
    for proc, _ in reversed(_PROCS):
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    _PROCS.clear()


atexit.register(_stop_all)
# Bazel's test timeout sends SIGTERM: turn it into an exit, so that atexit stops the children.
signal.signal(signal.SIGTERM, lambda *_: sys.exit("FAIL: terminated (test timeout?)"))


def _die_with_parent():
    """In the child before exec: SIGKILL it if this test process dies, even by SIGKILL."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _spawn(name, argv):
    log_path = os.path.join(TMP, f"{name}.log")
    log = open(log_path, "wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            preexec_fn=_die_with_parent)
    _PROCS.append((proc, log_path))
    return proc, log_path


def dump_logs(lines=25):
    """Prints the end of every started process's log (call on failure)."""
    for proc, log_path in _PROCS:
        print(f"--- last lines of {log_path} (pid {proc.pid})", file=sys.stderr)
        with open(log_path, errors="replace") as f:
            tail = [l for l in f.read().splitlines() if not l.startswith("    ptr")][-lines:]
        print("\n".join(tail), file=sys.stderr)


def free_port():
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(deadline, *flags):
    """A launcher.Server (address, grpc_port, metrics_port, metrics(), running(), log_path),
    stopped at exit with the other processes."""
    server = launcher.Server(*flags, data_dir=tempfile.mkdtemp(prefix="data.", dir=TMP),
                             log=os.path.join(TMP, "server.log"),
                             start_timeout=max(1, min(30, deadline.left())))
    try:
        server.start()
    except launcher.LaunchError as e:
        raise Fail(str(e))
    _PROCS.append((server.process, server.log_path))
    return server


class Prometheus:
    def __init__(self, proc, log_path, port):
        self.proc, self.log_path, self.port = proc, log_path, port
        self.base = f"http://127.0.0.1:{port}"

    def get(self, path, **params):
        """GET an HTTP API path; returns the JSON `data`, or raises Fail on an API error."""
        url = self.base + path + ("?" + urllib.parse.urlencode(params) if params else "")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                body = json.loads(r.read().decode())
        except urllib.error.HTTPError as e:
            body = json.loads(e.read().decode() or "{}")
        if body.get("status") != "success":
            raise Fail(f"Prometheus {path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr):
        """An instant query; returns the result vector (list of {metric, value})."""
        data = self.get("/api/v1/query", query=expr, time=f"{time.time():.3f}")
        if data["resultType"] not in ("vector", "scalar"):
            raise Fail(f"{expr}: unexpected result type {data['resultType']}")
        return data["result"] if data["resultType"] == "vector" else [{"value": data["result"]}]

    def scalar(self, expr):
        """The value of a query that must return exactly one sample (None when it returns none)."""
        result = self.query(expr)
        if not result:
            return None
        if len(result) != 1:
            raise Fail(f"{expr}: expected one series, got {len(result)}: {result}")
        return float(result[0]["value"][1])


def start_prometheus(deadline, scrape_port, rule_files, job="isopool"):
    """Prometheus scraping 127.0.0.1:scrape_port every second, evaluating rules every second."""
    binary = need("/usr/bin/prometheus", "Debian's prometheus package")
    port = free_port()
    config = os.path.join(TMP, "prometheus.yml")
    with open(config, "w") as f:
        # JSON is YAML: no YAML writer needed.
        json.dump({
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s",
                       "evaluation_interval": "1s"},
            "rule_files": rule_files,
            "scrape_configs": [{
                "job_name": job,
                "static_configs": [{"targets": [f"127.0.0.1:{scrape_port}"]}],
            }],
        }, f, indent=2)
    proc, log_path = _spawn("prometheus", [
        binary, f"--config.file={config}",
        f"--storage.tsdb.path={tempfile.mkdtemp(prefix='tsdb.', dir=TMP)}",
        f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn",
    ])
    prom = Prometheus(proc, log_path, port)

    def ready():
        if proc.poll() is not None:
            dump_logs()
            raise Fail(f"prometheus exited at start (status {proc.returncode})")
        with urllib.request.urlopen(prom.base + "/-/ready", timeout=2) as r:
            return r.status == 200

    deadline.wait_for("prometheus /-/ready", ready, limit=30)
    return prom


# ---------------------------------------------------------------------------------------------
# Client and traffic

def _load_example_client():
    path = os.path.join(WS, "examples", "python", "client.py")
    if not os.path.isfile(path):
        raise Fail(f"{path} missing from runfiles")
    spec = importlib.util.spec_from_file_location("isopool_example_client", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Client:
    """Execute and UploadSnapshot on one channel (grpcio, messages generated by protoc)."""

    def __init__(self, addr):
        try:
            import grpc  # Debian's python3-grpcio
        except ImportError:
            raise Fail(f"python3-grpcio is missing for {sys.executable}; {SETUP_HINT}")
        self.grpc = grpc
        example = _load_example_client()
        need(example.PROTOC, "protoc, to generate the message classes")
        self.pb, _ = example.generate_messages(tempfile.mkdtemp(prefix="pb.", dir=TMP))
        self.example = example
        self.channel = grpc.insecure_channel(addr)
        self.stub = example.IsopoolStub(self.channel, self.pb)

    def upload(self, name, source, **spec):
        pb = self.pb
        spec = pb.SnapshotSpec(name=name, **spec)
        return self.stub.UploadSnapshot(
            self.example.upload_requests(pb, spec, source.encode()), timeout=30)

    def execute_future(self, snapshot="", source=None, function=None, args_json="",
                       timeout_ms=0):
        """Starts one Execute (grpcio future, so that calls run concurrently)."""
        pb = self.pb
        request = pb.ExecuteRequest(snapshot=snapshot, limits=pb.Limits(timeout_ms=timeout_ms))
        if function is not None:
            request.function.CopyFrom(pb.FunctionCall(name=function, args_json=args_json))
        else:
            request.source = source
        return self.stub.Execute.future(request, timeout=10)

    def close(self):
        self.channel.close()


BUNDLE = """
function handler(n) { let s = 0; for (let i = 0; i < n; i++) s += i; return {n, s}; }
"""


def outcome_of(client, future):
    """(isopool_executions_total outcome, gRPC code) an Execute future ended with."""
    try:
        response = future.result()
    except client.grpc.RpcError as e:
        # Refused before or instead of running (NOT_FOUND, RESOURCE_EXHAUSTED, ...).
        return "rejected", e.code().name
    if response.HasField("error"):
        return client.pb.ScriptError.Kind.Name(response.error.kind).lower(), "OK"
    return "ok", "OK"


class Traffic:
    """Counts of what drive_traffic() did, by outcome and by (gRPC method, code)."""

    def __init__(self):
        self.outcomes = {}
        self.codes = {}

    def add(self, outcome, method, code):
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        self.codes[(method, code)] = self.codes.get((method, code), 0) + 1

    def executions(self):
        return sum(self.outcomes.values())


def drive_traffic(client, traffic, ok_calls, uploaded_name=None, concurrency=8):
    """Executes: `ok_calls` successful calls (inline and, if given, the uploaded snapshot's
    `handler`), then one each of exception, syntax error, timeout (condemns its isolate) and
    NOT_FOUND (counted as "rejected"). Each outcome is checked as it comes back, so a wrong count
    in Prometheus later is Prometheus's or the exporter's, not the traffic's."""
    calls = []
    for i in range(ok_calls):
        if uploaded_name and i % 2:
            calls.append(("ok", dict(snapshot=uploaded_name, function="handler",
                                     args_json=json.dumps([i]))))
        else:
            calls.append(("ok", dict(source=f"{i} + 1")))
    calls += [
        ("exception", dict(source="throw new Error('monitoring test')")),
        ("syntax", dict(source="this is not javascript")),
        ("timeout", dict(source="for (;;) {}", timeout_ms=150)),
        ("rejected", dict(snapshot="no-such-snapshot-for-monitoring", source="1")),
    ]
    for start in range(0, len(calls), concurrency):
        batch = calls[start:start + concurrency]
        futures = [client.execute_future(**kw) for _, kw in batch]
        for (want, kw), future in zip(batch, futures):
            got, code = outcome_of(client, future)
            if got != want:
                raise Fail(f"Execute {kw} ended as {got} ({code}), expected {want}")
            traffic.add(got, "Execute", code)


# ---------------------------------------------------------------------------------------------
# Queries of the deploy/ files

def rule_exprs(path):
    """(rule name, PromQL) for every rule of a Prometheus rule file.

    A small line reader instead of a YAML library (python3-yaml is not in tools/setup.sh): it
    takes `expr: <one line>` and `expr: |` / `expr: >` blocks (the lines indented deeper than the
    key), and fails unless it found one expression per `- alert:` / `- record:` entry.
    """
    with open(path) as f:
        lines = f.read().splitlines()
    names, exprs = [], []
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"\s*-\s*(?:alert|record):\s*(\S+)", line)
        if m:
            names.append(m.group(1))
        m = re.match(r"(\s*)expr:\s*(.*)$", line)
        if m:
            indent, value = len(m.group(1)), m.group(2).strip()
            if value in ("|", ">", "|-", ">-"):
                block = []
                while i + 1 < len(lines) and (not lines[i + 1].strip() or
                                              len(lines[i + 1]) - len(lines[i + 1].lstrip()) >
                                              indent):
                    i += 1
                    block.append(lines[i].strip())
                value = "\n".join(block).strip()
            exprs.append(value.strip("'\""))
        i += 1
    if not names or len(names) != len(exprs):
        raise Fail(f"{path}: found {len(names)} rules but {len(exprs)} expr fields")
    return list(zip(names, exprs))


def dashboard_exprs(metric_names, path):
    """(JSON path, PromQL) for every query of a Grafana dashboard, via tests/deploy/metric_names."""
    with open(path) as f:
        dashboard = json.load(f)
    return list(metric_names.exprs_in(dashboard))


def import_metric_names():
    """tests/deploy/metric_names.py (source tree): the PromQL metric-name extractor."""
    sys.path.insert(0, os.path.join(REPO, "tests", "deploy"))
    import metric_names
    return metric_names
