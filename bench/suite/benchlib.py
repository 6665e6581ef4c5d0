"""What the benchmark drivers share: bench/suite/suite.py (bench/run.sh) and compare.py
(bench/run.sh --baseline=REV).

- Binaries: the -c opt binaries of one tree, copied out of bazel-bin (build_opt) or named by the
  environment (from_env), with the environment their processes need to find libnode.
- start_server: one isopool_server on 127.0.0.1 port 0 with a temp data dir, through the one
  launcher every test uses (tests/harness/launcher.py over //tests/harness:launch_server, which
  waits for the server's --port_file); a Server knows its address, metrics URL, process (and
  worker processes), and stops itself.
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
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "harness"))
import launcher  # noqa: E402 (tests/harness/launcher.py)

# Binary name -> its path under bazel-bin (and its Bazel package).
TARGETS = {
    "isopool_server": "service/isopool_server",
    "isopool_pack": "engine/isopool_pack",
    "isopool_worker": "worker/isopool_worker",
    "launch_server": "tests/harness/launch_server",
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
    four are set. The launcher is launch_server_path()'s: $ISOPOOL_LAUNCH_SERVER, else the one
    in the runfiles or bazel-bin."""
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
    """A running isopool_server (through its launcher.Server); stop() ends it: SIGTERM, SIGKILL
    after 10 s."""

    def __init__(self, name, launched):
        self.name, self.launched = name, launched
        self.port, self.metrics_port = launched.grpc_port, launched.metrics_port
        self.addr = launched.address
        self.metrics_url = f"http://127.0.0.1:{self.metrics_port}/metrics"

    def alive(self):
        return self.launched.running()

    def log_tail(self, n=30):
        return "".join(self.launched.log_text().splitlines(keepends=True)[-n:])

    def pids(self):
        """The server and its worker processes."""
        return [self.launched.pid] + children(self.launched.pid)

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

    def stop(self):
        self.launched.stop()


def start_server(name, binaries, work, hash_seed_file, extra_args=(), timeout=30,
                 launch_server=None):
    """Starts binaries["isopool_server"] on 127.0.0.1 port 0 (gRPC and metrics) with data dir
    work/data-NAME, its log in work/server-NAME.log, through `launch_server` (default: the one
    in `binaries`, else launcher.launch_server_path()); returns the Server once it is ready (its
    port file written). Raises launcher.LaunchError (with the launcher's reason and the log's
    tail) if it exits or is not ready within `timeout` s."""
    data = os.path.join(work, f"data-{name}")
    os.makedirs(data, exist_ok=True)
    flags = [f"--pack_binary={binaries['isopool_pack']}", f"--hash_seed_file={hash_seed_file}"]
    if binaries.get("isopool_worker"):
        flags.append(f"--worker_binary={binaries['isopool_worker']}")
    launched = launcher.Server(*flags, *extra_args, data_dir=data,
                               log=os.path.join(work, f"server-{name}.log"), env=binaries.env,
                               server=binaries["isopool_server"],
                               binary=launch_server or binaries.get("launch_server"),
                               start_timeout=timeout)
    return Server(name, launched.start())


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
