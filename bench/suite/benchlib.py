"""What the benchmark drivers share: bench/suite/suite.py (bench/run.sh) and compare.py
(bench/run.sh --baseline=REV).

- Binaries: the -c opt binaries of one tree, copied out of bazel-bin (build_opt) or named by the
  environment (from_env), with the environment their processes need to find libnode.
- start_server: one isopool_server on 127.0.0.1 port 0 with a temp data dir; a Server knows its
  address, metrics URL, process (and worker processes), and stops itself.
- run_loadgen: one time-bounded bench/loadgen run; read_loadgen_json reads its report.
- metric_sum: a Prometheus counter family from /metrics.

Single-threaded use by one driver. Everything talks to 127.0.0.1 only.
"""

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

# Binary name -> its path under bazel-bin (and its Bazel package).
TARGETS = {
    "isopool_server": "service/isopool_server",
    "isopool_pack": "engine/isopool_pack",
    "isopool_worker": "worker/isopool_worker",
    "loadgen": "bench/loadgen/loadgen",
    "isopoolctl": "cli/isopoolctl",
}


class Binaries:
    """Paths of the binaries by name (TARGETS' keys), and `env`: os.environ plus the library
    folder that holds libnode (copies lose the $ORIGIN-relative runpath bazel-out gives)."""

    def __init__(self, paths, lib_dir=None, note=""):
        self.paths = paths
        self.note = note
        self.env = dict(os.environ)
        if lib_dir:
            self.env["LD_LIBRARY_PATH"] = ":".join(
                x for x in (lib_dir, os.environ.get("LD_LIBRARY_PATH")) if x)

    def __getitem__(self, name):
        return self.paths[name]

    def get(self, name):
        return self.paths.get(name)


def build_opt(tree, out_dir, names, timeout=2400):
    """`bazel build -c opt` of `names` in the source tree `tree`, copied to out_dir (so that
    another build flipping bazel-bin between configurations cannot change them under us), with
    a link to the libnode they were linked against."""
    labels = [f"//{os.path.dirname(TARGETS[n])}:{n}" for n in names]
    subprocess.run(["bazel", "build", "-c", "opt", "--noshow_progress"] + labels, cwd=tree,
                   check=True, timeout=timeout)
    bin_dir = subprocess.run(["bazel", "info", "-c", "opt", "bazel-bin"], cwd=tree, check=True,
                             capture_output=True, text=True, timeout=300).stdout.strip()
    os.makedirs(out_dir, exist_ok=True)
    paths = {}
    for n in names:
        paths[n] = os.path.join(out_dir, n)
        shutil.copy(os.path.join(bin_dir, TARGETS[n]), paths[n])
    ldd = subprocess.run(["ldd", os.path.join(bin_dir, TARGETS["isopool_server"])],
                         capture_output=True, text=True, timeout=60).stdout
    m = re.search(r"(/\S*libnode\.so[.\d]*)", ldd)
    if not m or not os.path.isfile(m.group(1)):
        raise RuntimeError(f"libnode.so not found for the server (ldd: {ldd.strip()})")
    os.symlink(os.path.realpath(m.group(1)), os.path.join(out_dir, os.path.basename(m.group(1))))
    return Binaries(paths, out_dir,
                    f"bazel build -c opt, copied from {os.path.basename(os.path.dirname(bin_dir))}")


def from_env():
    """The prebuilt binaries named by ISOPOOL_SERVER, ISOPOOL_PACK, LOADGEN and ISOPOOLCTL (and
    ISOPOOL_WORKER if set, else the server finds its sibling isopool_worker), or None unless all
    four are set."""
    names = {"isopool_server": "ISOPOOL_SERVER", "isopool_pack": "ISOPOOL_PACK",
             "loadgen": "LOADGEN", "isopoolctl": "ISOPOOLCTL", "isopool_worker": "ISOPOOL_WORKER"}
    paths = {n: os.environ[v] for n, v in names.items() if os.environ.get(v)}
    if len(set(paths) - {"isopool_worker"}) < 4:
        return None
    return Binaries(paths, note="prebuilt binaries from the environment")


def write_hash_seed(path):
    """A random hash seed below 2^63: V8 10.2 reads --hash-seed as int64 (bench/README.md,
    "Server issues this suite found")."""
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write(str(secrets.randbits(62) + 1))
    return path


class Server:
    """A running isopool_server; stop() (SIGTERM, then SIGKILL after `grace` s) ends it."""

    def __init__(self, name, proc, log_path, port, metrics_port):
        self.name, self.proc, self.log_path = name, proc, log_path
        self.port, self.metrics_port = port, metrics_port
        self.addr = f"127.0.0.1:{port}"
        self.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"

    def alive(self):
        return self.proc.poll() is None

    def log_tail(self, n=30):
        with open(self.log_path, errors="replace") as f:
            return "".join(f.readlines()[-n:])

    def pids(self):
        """The server and its worker processes."""
        return [self.proc.pid] + children(self.proc.pid)

    def resident_mib(self):
        """RSS of the server and its worker processes."""
        total = 0
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/statm") as f:
                    total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            except OSError:
                pass
        return total / 1048576

    def stop(self, grace=30):
        stop_process(self.proc, grace)


def start_server(name, binaries, work, hash_seed_file, extra_args=(), timeout=30):
    """Starts isopool_server on 127.0.0.1 port 0 (gRPC and metrics) with data dir
    work/data-NAME, its log in work/server-NAME.log; returns the Server once it listens. Raises
    RuntimeError (with the log's tail) if it exits or does not listen within `timeout` s."""
    data = os.path.join(work, f"data-{name}")
    os.makedirs(data, exist_ok=True)
    log_path = os.path.join(work, f"server-{name}.log")
    args = [binaries["isopool_server"], "--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0",
            f"--data_dir={data}", f"--pack_binary={binaries['isopool_pack']}",
            f"--hash_seed_file={hash_seed_file}"]
    if binaries.get("isopool_worker"):
        args.append(f"--worker_binary={binaries['isopool_worker']}")
    with open(log_path, "w") as log:
        proc = subprocess.Popen(args + list(extra_args), stderr=log, env=binaries.env,
                                stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(log_path, errors="replace") as f:
            m = re.search(r'"event":"start".*?"port":(\d+),"metrics_port":(\d+)', f.read())
        if m:
            return Server(name, proc, log_path, int(m.group(1)), int(m.group(2)))
        if proc.poll() is not None:
            break
        time.sleep(0.1)  # polling the log for the server's start line
    stop_process(proc, 5)
    with open(log_path, errors="replace") as f:
        tail = "".join(f.readlines()[-20:])
    raise RuntimeError(f"server {name} did not start within {timeout} s "
                       f"(exit status {proc.poll()}):\n{tail}")


def stop_process(proc, grace):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def children(pid):
    """The pids whose parent is `pid`."""
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat[stat.rfind(")") + 2:].split()[1]) == pid:
                out.append(int(p))
    return out


def run_loadgen(binaries, target, label, concurrency, warmup, duration, json_out, args=(),
                cpu=None, stdout=None):
    """One bench/loadgen run against `target` (host:port), its JSON report in json_out. The
    loadgen stops itself after warm-up + duration + 20 s (--hard_cap_seconds); it is killed 15 s
    after that. `cpu`: pin it to that CPU. Returns its exit status (124 when killed)."""
    cap = int(warmup + duration + 20)
    cmd = [binaries["loadgen"], f"--target={target}", f"--label={label}",
           f"--concurrency={concurrency}", "--channels=2", f"--warmup_seconds={warmup:g}",
           f"--duration_seconds={duration:g}", f"--hard_cap_seconds={cap}",
           f"--json_out={json_out}"] + list(args)
    pin = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
    try:
        return subprocess.run(cmd, env=binaries.env, stdout=stdout or sys.stderr,
                              stdin=subprocess.DEVNULL, timeout=cap + 15,
                              preexec_fn=pin).returncode
    except subprocess.TimeoutExpired:
        return 124


def read_loadgen_json(path):
    """The loadgen report; `latency` is the well-behaved calls' when the run had hostile ones."""
    with open(path) as f:
        r = json.load(f)
    r["latency_ok"] = r["well_behaved"]["latency"] if r.get("hostile_fraction") else r["latency"]
    return r


def metric_sum(url, name):
    """The sum of a Prometheus counter family (all label sets) at `url`."""
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    total = 0.0
    pattern = re.compile(r"^" + re.escape(name) + r"(\{[^}]*\})?\s+([0-9.eE+-]+)$")
    for line in text.splitlines():
        m = pattern.match(line)
        if m:
            total += float(m.group(2))
    return total
