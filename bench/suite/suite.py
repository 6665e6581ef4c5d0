#!/usr/bin/python3
"""The end-to-end benchmark suite of issue 6, in one command (bench/README.md explains it):

  bench/run.sh            # full suite, ~6-7 minutes on 2 cores; writes bench/RESULTS.md
  bench/run.sh --smoke    # a few seconds, concurrency 2, no peer, no 750 KiB bundle; exits
                          # non-zero on any unexpected error (tests/bench:bench_smoke_test)

Steps: build the -c opt binaries (server, pack, worker, launch_server, loadgen, isopoolctl) and
copy them to a temp dir; prepare the peer's node_modules if missing; start isopool on 127.0.0.1
port 0 with a temp data dir (tests/harness/launcher.py); upload the snapshots with isopoolctl; run every scenario through the same
loadgen, alternating isopool and peer runs; measure uploads (uploads.py); write the results
(report.py). Every step has a time bound; traffic goes to 127.0.0.1 only.

Flags: --smoke, --out FILE (default bench/RESULTS.md; --smoke: <work dir>/RESULTS.md),
--no_peer, --no_pin (skip the pinned table), --no_shared_store (skip the shared-store table:
bench/shared_store, a real PostgreSQL and Ceph; full mode only), --keep_work.
Environment: ISOPOOL_SERVER, ISOPOOL_PACK, LOADGEN, ISOPOOLCTL (all four set = use these
binaries, do not build; ISOPOOL_WORKER too, else the server finds isopool_worker itself; the
server is started by $ISOPOOL_LAUNCH_SERVER, else launch_server from the runfiles or bazel-bin);
DURATION, WARMUP (seconds per run), ROUNDS (alternating rounds of the ratio rows),
MIXED_DURATION. Run by /usr/bin/python3 ($PYTHON in bench/run.sh), which has Debian's grpcio.
Exit status: 0; 1 when a step failed; 2 for a bad flag; 3 when a run had unexpected errors.
"""
import argparse
import datetime
import glob
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import benchlib  # noqa: E402 (this folder)
import peer  # noqa: E402
from report import add_shared_store, write_report  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUNDLE_FUNCTIONS, BUNDLE_CALLED = 15000, 7500
HOSTILE = ["--hostile_fraction=0.01", "--hostile=loop,heap", "--hostile_timeout_ms=50",
           "--hostile_heap_mib=16"]


class Failure(Exception):
    """A step failed: the suite stops with exit status 1."""


def bundle_source():
    """The ~750 KiB bundle: 15,000 named arrow functions and a coordinator `handler(n)` that
    calls one of them (the shape of bench/cold_start/bundle.cc, as a classic script)."""
    lines = ["'use strict';"]
    for i in range(BUNDLE_FUNCTIONS):
        lines.append(f"const f{i:05d} = (x) => (x * 31 + {i}) % 65521 | 0;")
    lines.append(f"function handler(n) {{ return {{ result: f{BUNDLE_CALLED:05d}(n), n }}; }}")
    return "\n".join(lines) + "\n"


def expected_bundle_result(n=7):
    return json.dumps({"result": (n * 31 + BUNDLE_CALLED) % 65521, "n": n}, separators=(",", ":"))


def busy_now():
    """The share of all cores busy over the next second, and the compilers running: other
    engineers' builds share this machine, and the report says so."""
    def cpu_times():
        with open("/proc/stat") as f:
            return [int(x) for x in f.readline().split()[1:9]]
    a = cpu_times()
    time.sleep(1)  # the sampling window
    d = [y - x for x, y in zip(a, cpu_times())]
    idle = d[3] + d[4]
    compilers = 0
    for comm in glob.glob("/proc/[0-9]*/comm"):
        try:
            with open(comm) as f:
                compilers += bool(re.search(r"cc1plus|clang", f.read()))
        except OSError:
            pass
    return f"{(sum(d) - idle) * 100 // max(sum(d), 1)}% CPU busy, {compilers} compiler processes"


def load_average():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def env_number(name, default):
    return float(os.environ.get(name) or default)


class Suite:
    def __init__(self, args):
        self.args, self.smoke = args, args.smoke
        self.t_start = time.time()
        self.load_start = load_average()
        self.busy_start = busy_now()
        if self.smoke:
            self.warmup, self.duration = env_number("WARMUP", 0.2), env_number("DURATION", 0.5)
            self.rounds, self.mixed_duration = int(env_number("ROUNDS", 1)), env_number(
                "MIXED_DURATION", 1)
            self.want_peer = self.want_pin = False
        else:
            self.warmup, self.duration = env_number("WARMUP", 1), env_number("DURATION", 5)
            self.rounds, self.mixed_duration = int(env_number("ROUNDS", 3)), env_number(
                "MIXED_DURATION", 10)
            self.want_peer, self.want_pin = not args.no_peer, not args.no_pin
        self.work = tempfile.mkdtemp(prefix="isopool-bench.")
        os.makedirs(os.path.join(self.work, "runs"))
        self.out = args.out or (os.path.join(self.work, "RESULTS.md") if self.smoke
                                else os.path.join(ROOT, "bench/RESULTS.md"))
        self.notes = []
        self.bins = self.server = None
        self.peer_ok = False  # both peer processes answer
        self.peers = {}  # mode -> peer.Peer
        self.seq = 0
        self.client_cpu = None  # a CPU to pin the load generator to
        self.pinned_done = False
        self.condemned = 0
        self.expect = expected_bundle_result()

    # ------------------------------------------------------------ plumbing
    def log(self, msg):
        print(f"suite [{int(time.time() - self.t_start)}s]: {msg}", file=sys.stderr, flush=True)

    def note(self, msg):
        self.notes.append(msg)
        print(f"suite: note: {msg}", file=sys.stderr, flush=True)

    def path(self, *parts):
        return os.path.join(self.work, *parts)

    def server_alive(self):
        if not self.server.alive():
            sys.stderr.write(self.server.log_tail())
            raise Failure("the isopool server died")

    def ctl(self, addr, *args, timeout=120):
        """isopoolctl --addr ADDR ARGS; its stdout, stripped, or None when it failed."""
        try:
            p = subprocess.run([self.bins["isopoolctl"], "--addr", addr] + list(args),
                               env=self.bins.env, capture_output=True, text=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        sys.stderr.write(p.stderr)
        return p.stdout.strip() if p.returncode == 0 else None

    def cleanup(self):
        for p in self.peers.values():
            p.stop()
        if self.server:
            self.server.stop()
        if not self.args.keep_work:
            for d in ["bin"] + [os.path.basename(p) for p in glob.glob(self.path("data-*"))]:
                shutil.rmtree(self.path(d), ignore_errors=True)

    # ------------------------------------------------------------ 1. binaries and the peer
    def get_binaries(self):
        self.bins = benchlib.from_env()
        if self.bins is None:
            self.log("building -c opt (server, pack, worker, launch_server, loadgen, isopoolctl)")
            try:
                self.bins = benchlib.build_opt(ROOT, self.path("bin"), list(benchlib.TARGETS),
                                               timeout=1200)
            except (subprocess.SubprocessError, OSError, RuntimeError) as e:
                raise Failure(f"bazel build -c opt failed: {e}")
        for name in ("isopool_server", "isopool_pack", "loadgen", "isopoolctl"):
            if not os.access(self.bins[name], os.X_OK):
                raise Failure(f"no binary {self.bins[name]}")

    def prepare_peer(self):
        """True when the peer's node_modules load (else a note says why)."""
        try:
            peer.prepare(self.path("npm.log"), self.log)
        except peer.PeerError as e:
            self.note(str(e))
            return False
        return True

    def start_peers(self):
        """Both peer processes (reuse and new context), each checked with one call; False (and a
        note) when they do not work."""
        try:
            for mode in ("reuse", "new"):
                self.peers[mode] = peer.Peer(mode, self.path("bundle.js"), self.work)
                got = self.ctl(self.peers[mode].addr, "exec", "bundle", "--function", "handler",
                               "--args", "[7]", timeout=30)
                if got != self.expect:
                    raise peer.PeerError(f"peer ({mode}) handler(7) = '{got or ''}', want "
                                         f"{self.expect}")
        except peer.PeerError as e:
            self.note(str(e))
            return False
        return True

    # ------------------------------------------------------------ 2. servers and snapshots
    def start_isopool(self):
        seed = benchlib.write_hash_seed(self.path("hash_seed"))
        try:
            self.server = benchlib.start_server("isopool", self.bins, self.work, seed)
        except benchlib.launcher.LaunchError as e:
            raise Failure(str(e))
        self.log(f"isopool on {self.server.addr} (metrics :{self.server.metrics_port}), work dir "
                 f"{self.work}")

    def upload_snapshots(self):
        """echo in the three modes, checked with one call each, the blank snapshot; in full mode
        the 750 KiB bundle in context and shared mode."""
        with open(self.path("echo.js"), "w") as f:
            f.write("function echo(x) { return x; }\n")
        for mode in ("fresh", "context", "shared"):
            self.upload(f"echo-{mode}", "echo.js", mode, ["--function", "echo", "--args", "[42]"],
                        "42")
        if self.ctl(self.server.addr, "exec", "--blank", "--source", "1+1") != "2":
            raise Failure("blank 1+1 is not 2")
        if not self.smoke:
            with open(self.path("bundle.js"), "w") as f:
                f.write(bundle_source())
            for mode in ("context", "shared"):
                self.upload(f"bundle-{mode}", "bundle.js", mode,
                            ["--function", "handler", "--args", "[7]"], self.expect)

    def upload(self, name, source, mode, call, want):
        reply = self.ctl(self.server.addr, "upload", self.path(source), "--name", name,
                         "--isolation", mode, "--prewarm", "--json")
        if reply is None:
            raise Failure(f"upload of {name} failed")
        with open(self.path(f"upload-{name}.json"), "w") as f:
            f.write(reply + "\n")
        got = self.ctl(self.server.addr, "exec", name, *call)
        if got != want:
            raise Failure(f"{name} {' '.join(call)} = {got}, want {want}")

    # ------------------------------------------------------------ loadgen runs
    def lg(self, label, c, target, *flags):
        """One bounded loadgen run; its JSON goes to runs/. The label names the row of the report
        (smoke mode keeps it but runs at concurrency 2)."""
        if self.client_cpu is not None:
            label = f"pinned {label}"
        self.seq += 1
        json_out = self.path("runs", f"{self.seq:03d}.json")
        flags = list(flags) + (["--fail_on_unexpected_errors"] if self.smoke else [])
        rc = benchlib.run_loadgen(
            self.bins, target, label, 2 if self.smoke else c, self.warmup,
            self.mixed_duration if "mixed" in label else self.duration, json_out, flags,
            cpu=self.client_cpu)
        if rc != 0:
            if self.smoke:
                raise Failure(f"loadgen run '{label}' exited {rc}")
            self.note(f"loadgen run '{label}' exited {rc}")
            if os.path.exists(json_out):
                os.remove(json_out)
        self.server_alive()

    def iso(self, name, c, *flags):
        """Execute on isopool, row "NAME c=C"."""
        self.lg(f"{name} c={c}", c, self.server.addr, "--rpc=execute", *flags)

    def echo_call(self, mode, c):
        self.iso(f"echo-{mode}", c, f"--snapshot=echo-{mode}", "--function=echo", "--args_json=[1]")

    def floor(self, c):
        self.lg(f"floor c={c}", c, self.server.addr, "--rpc=health")

    def on_peer(self, mode, name, c, *flags):
        """A run against the peer started in MODE, row "NAME c=C" (none without the peer)."""
        if self.peer_ok:
            self.lg(f"{name} c={c}", c, self.peers[mode].addr, *flags)

    def condemned_total(self):
        return int(benchlib.metric_sum(self.server.metrics_url,
                                       "isopool_isolates_condemned_total"))

    # ------------------------------------------------------------ the scenarios
    def ratio_rounds(self):
        self.log(f"scenario 1 + floor + peer, {self.rounds} alternating round(s)")
        for _ in range(self.rounds):
            self.floor(16)
            self.echo_call("context", 16)
            self.on_peer("reuse", "peer-reuse", 16, "--rpc=execute", "--source=1+1")
            self.iso("blank", 16, "--source=1+1")
            self.echo_call("shared", 16)
            self.on_peer("new", "peer-new", 16, "--rpc=execute", "--source=1+1")
        self.echo_call("fresh", 16)

    def concurrency_and_bundle(self):
        for c in (1, 64):
            self.floor(c)
            for mode in ("fresh", "context", "shared"):
                self.echo_call(mode, c)
            self.iso("blank", c, "--source=1+1")
        self.on_peer("reuse", "peer-health", 16, "--rpc=health")

        self.log("scenario 2: the 750 KiB bundle")
        call = ["--function=handler", "--args_json=[7]"]
        self.iso("bundle-context", 16, "--snapshot=bundle-context", *call)
        self.on_peer("reuse", "peer-bundle-reuse", 16, "--rpc=execute", "--snapshot=bundle", *call)
        self.iso("bundle-shared", 16, "--snapshot=bundle-shared", *call)
        self.on_peer("new", "peer-bundle-new", 16, "--rpc=execute", "--snapshot=bundle", *call)
        self.iso("bundle-context", 1, "--snapshot=bundle-context", *call)
        self.iso("bundle-shared", 1, "--snapshot=bundle-shared", *call)

    def mixed_load(self):
        self.log("scenario 3: mixed load, 1% hostile")
        echo = ["--rpc=execute", "--snapshot=echo-context", "--function=echo", "--args_json=[1]"]
        for _ in range(1 if self.smoke else 2):
            self.lg("mixed-clean", 16, self.server.addr, *echo)
            before = self.condemned_total()
            self.lg("mixed-hostile", 16, self.server.addr, *echo, *HOSTILE)
            self.condemned += self.condemned_total() - before
        if self.smoke:
            hostile = sum(benchlib.read_loadgen_json(f).get("hostile", {}).get("requests", 0)
                          for f in glob.glob(self.path("runs", "*.json")))
            if hostile <= 0:
                raise Failure("the mixed run made no hostile call")
            if self.condemned <= 0:
                raise Failure("hostile calls condemned no isolate "
                              "(isopool_isolates_condemned_total)")
        self.on_peer("reuse", "peer-mixed-hostile", 16, "--rpc=execute", "--source=1+1", *HOSTILE)

    def pinned_table(self):
        if not self.want_pin:
            return
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            self.note("fewer than 2 CPUs to run on: no pinned table")
            return
        self.log(f"pinned table: server/peer on CPU {cpus[0]}, loadgen on CPU {cpus[1]}")
        # The server's worker processes run the JavaScript: they go with it.
        pids = self.server.pids() + [p.proc.pid for p in self.peers.values()]
        pin_all(pids, {cpus[0]})
        self.client_cpu = cpus[1]
        try:
            self.floor(16)
            self.echo_call("context", 16)
            self.on_peer("reuse", "peer-reuse", 16, "--rpc=execute", "--source=1+1")
            self.echo_call("shared", 16)
            self.on_peer("new", "peer-new", 16, "--rpc=execute", "--source=1+1")
        finally:
            self.client_cpu = None
            pin_all(pids, set(cpus))
        self.pinned_done = True

    def uploads(self):
        self.log("scenario 4: uploads")
        counts = (["--uploads", "3", "--upload_concurrency", "1", "--first_exec", "1"] if self.smoke
                  else ["--uploads", "20", "--upload_concurrency", "1,2", "--first_exec", "5"])
        try:
            rc = subprocess.run(
                [sys.executable, os.path.join(HERE, "uploads.py"), self.server.addr,
                 self.path("uploads.json"), "--proto",
                 os.path.join(ROOT, "proto/isopool/v1/isopool.proto")] + counts,
                stdout=sys.stderr, timeout=300).returncode
        except subprocess.TimeoutExpired:
            rc = 124
        if rc != 0:
            if self.smoke:
                raise Failure(f"scenario 4 (uploads) failed with {rc}")
            self.note(f"scenario 4 (uploads) exited {rc}")
        self.server_alive()

    def shared_store(self):
        """The filesystem store against the shared store (PostgreSQL + Ceph radosgw, both real,
        started by bench/shared_store), side by side: its table, or None."""
        if self.smoke or self.args.no_shared_store:
            return None
        self.log("shared store vs filesystem store (bench/shared_store; starts PostgreSQL and Ceph)")
        md, err = self.path("shared_store.md"), self.path("shared_store.err")
        with open(md, "w") as out, open(err, "w") as errf:
            try:
                rc = subprocess.run(["bazel", "run", "-c", "opt",
                                     "//bench/shared_store:shared_store_bench"], cwd=ROOT,
                                    stdout=out, stderr=errf, timeout=1800).returncode
            except subprocess.TimeoutExpired:
                rc = 124
        if rc == 0:
            with open(md) as f:
                return f.read()
        with open(err, errors="replace") as f:
            last = (f.read().strip().splitlines() or [""])[-1]
        self.note(f"shared-store benchmark failed: {last}")
        return None

    # ------------------------------------------------------------ 3. the report
    def run_metadata(self, load_end):
        def git(*args):
            p = subprocess.run(["git"] + list(args), cwd=ROOT, capture_output=True, text=True)
            return p.stdout.strip() if p.returncode == 0 else None

        cpu, mem = "unknown CPU", "?"
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), cpu)
        with open("/proc/meminfo") as f:
            mem = next((f"{int(l.split()[1]) / 1048576:.1f} GiB RAM" for l in f
                        if l.startswith("MemTotal")), mem)
        return {
            "command": "bench/run.sh" + (" --smoke" if self.smoke else ""),
            "commit": git("rev-parse", "--short=12", "HEAD") or "unknown",
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "cores": os.cpu_count(), "cpu": cpu, "mem": mem + ", " + platform.platform(),
            "mode": "smoke" if self.smoke else "full", "warmup": f"{self.warmup:g}",
            "duration": f"{self.duration:g}", "rounds": str(self.rounds),
            "pinned": self.pinned_done, "peer": peer.describe() if self.peer_ok else "not run",
            "load_start": self.load_start, "load_end": load_end,
            "busy": f"before the suite: {self.busy_start}; after it (server stopped): {busy_now()}",
            "condemned_metric": self.condemned,
            "wall_seconds": str(int(time.time() - self.t_start)),
            "server_note": f"{self.bins.note}; mixed-load runs {self.mixed_duration:g} s",
            "notes": self.notes,
        }

    def run(self):
        self.get_binaries()
        peer_ready = self.want_peer and self.prepare_peer()
        self.start_isopool()
        self.upload_snapshots()
        self.peer_ok = peer_ready and self.start_peers()
        self.ratio_rounds()
        if not self.smoke:
            self.concurrency_and_bundle()
        self.mixed_load()
        self.pinned_table()
        self.uploads()

        load_end = load_average()
        self.server.stop()
        shared_table = self.shared_store()
        meta = self.run_metadata(load_end)
        with open(self.path("meta.json"), "w") as f:
            json.dump(meta, f, indent=1)
        report_rc = write_report(self.path("runs"), meta, self.out, self.path("uploads.json"),
                                 keep_analysis=not self.smoke)
        if shared_table:
            add_shared_store(self.out, shared_table)
        self.log(f"done in {int(time.time() - self.t_start)} s; results in {self.out}; JSON "
                 f"reports in {self.path('runs')}")
        if report_rc != 0:
            print(f"suite: unexpected errors in the runs (see {self.out})", file=sys.stderr)
        return report_rc


def pin_all(pids, cpus):
    """Every thread of every process in `pids` may run on `cpus` only (processes that have
    exited are skipped)."""
    for pid in pids:
        for tid in glob.glob(f"/proc/{pid}/task/*"):
            try:
                os.sched_setaffinity(int(os.path.basename(tid)), cpus)
            except OSError:
                pass


def main():
    p = argparse.ArgumentParser(prog="bench/run.sh", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                allow_abbrev=False)
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--out", default="")
    p.add_argument("--no_peer", action="store_true")
    p.add_argument("--no_pin", action="store_true")
    p.add_argument("--no_shared_store", action="store_true")
    p.add_argument("--keep_work", action="store_true")
    suite = Suite(p.parse_args())
    # SIGTERM (e.g. a test timeout) unwinds like an error, so the servers are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return suite.run()
    except Failure as e:
        print(f"suite: FAIL: {e}", file=sys.stderr)
        return 1
    finally:
        suite.cleanup()


if __name__ == "__main__":
    sys.exit(main())
