#!/usr/bin/python3
"""bench/run.sh --baseline=REV: the current tree against an earlier revision, side by side.

    bench/run.sh --baseline=af5417c            # ~8 minutes on 2 cores; writes bench/BASELINE.md
    bench/run.sh --baseline=HEAD~1 --rounds=5

Builds the current tree and REV (in a temporary git worktree, its own Bazel output base) with
-c opt, starts three servers on 127.0.0.1 port 0 — the current default (worker processes), the
current tree with --workers=0 (in-process), and REV's server — uploads the same snapshots to
each, and runs the same loadgen rows against all three, alternating servers within every round
so that machine noise lands on all of them alike. Medians over the rounds; each row says how the
current tree compares with REV. Client and servers share the cores (not pinned).
"""

import argparse
import datetime
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARIES = {
    "isopool_server": "service/isopool_server",
    "isopool_pack": "engine/isopool_pack",
    "isopool_worker": "worker/isopool_worker",
    "loadgen": "bench/loadgen/loadgen",
    "isopoolctl": "cli/isopoolctl",
}

# (row, loadgen arguments): the rows of the targets.
ROWS = [
    ("echo-shared c=16", ["--concurrency=16", "--snapshot=echo-shared", "--function=echo",
                          "--args_json=[1]"]),
    ("echo-context c=16", ["--concurrency=16", "--snapshot=echo-context", "--function=echo",
                           "--args_json=[1]"]),
    ("blank 1+1 c=16", ["--concurrency=16", "--source=1+1"]),
    ("echo-shared c=1", ["--concurrency=1", "--snapshot=echo-shared", "--function=echo",
                         "--args_json=[1]"]),
    ("mixed clean c=16", ["--concurrency=16", "--snapshot=echo-context", "--function=echo",
                          "--args_json=[1]"]),
    ("mixed 1% hostile c=16", ["--concurrency=16", "--snapshot=echo-context", "--function=echo",
                               "--args_json=[1]", "--hostile_fraction=0.01", "--hostile=loop,heap",
                               "--hostile_timeout_ms=50", "--hostile_heap_mib=16"]),
]


def log(msg):
    print(f"compare: {msg}", file=sys.stderr, flush=True)


def build(tree, out_dir, targets):
    subprocess.run(["bazel", "build", "-c", "opt", "--noshow_progress"] +
                   [f"//{BINARIES[t].rsplit('/', 1)[0]}:{t}" for t in targets],
                   cwd=tree, check=True, timeout=2400)
    bin_dir = subprocess.run(["bazel", "info", "-c", "opt", "bazel-bin"], cwd=tree, check=True,
                             capture_output=True, text=True).stdout.strip()
    os.makedirs(out_dir, exist_ok=True)
    for t in targets:
        shutil.copy(os.path.join(bin_dir, BINARIES[t]), os.path.join(out_dir, t))
    lib = subprocess.run(["ldd", os.path.join(bin_dir, BINARIES["isopool_server"])],
                         capture_output=True, text=True).stdout
    libnode = re.search(r"(/\S*libnode\.so\.\d+)", lib).group(1)
    os.symlink(os.path.realpath(libnode), os.path.join(out_dir, os.path.basename(libnode)))


def baseline_tree(rev, work):
    tree = os.path.join(work, "baseline-src")
    subprocess.run(["git", "worktree", "add", "--detach", "-q", tree, rev], cwd=ROOT, check=True)
    os.symlink(os.path.join(ROOT, "third_party/v8/root"),
               os.path.join(tree, "third_party/v8/root"))
    return tree


class Server:
    def __init__(self, name, bin_dir, work, hash_seed_file, extra):
        self.name = name
        data = os.path.join(work, f"data-{name}")
        os.makedirs(data)
        self.log_path = os.path.join(work, f"server-{name}.log")
        args = [os.path.join(bin_dir, "isopool_server"), "--listen=127.0.0.1:0",
                "--metrics_listen=127.0.0.1:0", f"--data_dir={data}",
                f"--pack_binary={os.path.join(bin_dir, 'isopool_pack')}",
                f"--hash_seed_file={hash_seed_file}"] + extra
        env = dict(os.environ, LD_LIBRARY_PATH=bin_dir)
        self.proc = subprocess.Popen(args, stderr=open(self.log_path, "w"), env=env,
                                     cwd=bin_dir)
        deadline = time.time() + 60
        while time.time() < deadline:
            m = re.search(r'"event":"start".*?"port":(\d+),"metrics_port":(\d+)',
                          open(self.log_path).read())
            if m:
                self.port, self.metrics_port = int(m.group(1)), int(m.group(2))
                self.addr = f"127.0.0.1:{self.port}"
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)  # the server's start line
        raise RuntimeError(f"{name} did not start: {open(self.log_path).read()[-2000:]}")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def resident_mib(self):
        """RSS of the server and its worker processes."""
        total = 0
        pids = [self.proc.pid] + [int(p) for p in os.listdir("/proc") if p.isdigit()
                                  and _ppid(int(p)) == self.proc.pid]
        for pid in pids:
            try:
                total += int(open(f"/proc/{pid}/statm").read().split()[1]) * os.sysconf(
                    "SC_PAGE_SIZE")
            except OSError:
                pass
        return total / 1048576


def _ppid(pid):
    try:
        stat = open(f"/proc/{pid}/stat").read()
        return int(stat[stat.rfind(")") + 2:].split()[1])
    except (OSError, ValueError, IndexError):
        return -1


def run_loadgen(bin_dir, server, label, args, warmup, duration, out):
    cap = int(warmup + duration + 30)
    cmd = [os.path.join(bin_dir, "loadgen"), f"--target={server.addr}", f"--label={label}",
           "--rpc=execute", "--channels=2", f"--warmup_seconds={warmup}",
           f"--duration_seconds={duration}", f"--hard_cap_seconds={cap}", f"--json_out={out}"] + args
    subprocess.run(cmd, check=True, timeout=cap + 30, stdout=subprocess.DEVNULL,
                   env=dict(os.environ, LD_LIBRARY_PATH=bin_dir))
    r = json.load(open(out))
    lat = r["well_behaved"]["latency"] if r.get("hostile_fraction") else r["latency"]
    return {"rps": r["requests_per_second"], "p50": lat["p50"], "p99": lat["p99"],
            "unexpected": r["unexpected_errors"]}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--baseline", required=True, help="git revision to compare against")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=float, default=4)
    p.add_argument("--warmup", type=float, default=1)
    p.add_argument("--out", default=os.path.join(ROOT, "bench/BASELINE.md"))
    args = p.parse_args()
    rev = subprocess.run(["git", "rev-parse", "--short=12", args.baseline], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout.strip()
    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                cwd=ROOT, capture_output=True, text=True).stdout.strip())
    work = tempfile.mkdtemp(prefix="isopool-compare.")
    servers = []
    tree = None
    t0 = time.time()
    try:
        log(f"building the current tree ({head}) -c opt")
        build(ROOT, os.path.join(work, "bin"), list(BINARIES))
        log(f"building {rev} -c opt in a temporary worktree")
        tree = baseline_tree(rev, work)
        base_targets = ["isopool_server", "isopool_pack"]
        if os.path.exists(os.path.join(tree, "worker/BUILD.bazel")):
            base_targets.append("isopool_worker")
        build(tree, os.path.join(work, "bin-base"), base_targets)
        seed = os.path.join(work, "hash_seed")
        with open(seed, "w") as f:
            f.write(str(int.from_bytes(os.urandom(7), "big") + 1))
        os.chmod(seed, 0o600)
        cur, base = os.path.join(work, "bin"), os.path.join(work, "bin-base")
        servers = [Server("workers", cur, work, seed, [f"--worker_binary={cur}/isopool_worker"]),
                   Server("in-process", cur, work, seed, ["--workers=0"]),
                   Server("baseline", base, work, seed, [])]
        echo = os.path.join(work, "echo.js")
        with open(echo, "w") as f:
            f.write("function echo(x) { return x; }\n")
        for s in servers:
            for mode in ("context", "shared"):
                subprocess.run([os.path.join(cur, "isopoolctl"), "--addr", s.addr, "upload", echo,
                                "--name", f"echo-{mode}", "--isolation", mode, "--prewarm"],
                               check=True, stdout=subprocess.DEVNULL, timeout=120,
                               env=dict(os.environ, LD_LIBRARY_PATH=cur))
        idle_rss = {s.name: s.resident_mib() for s in servers}
        results = {}
        n = 0
        for rnd in range(args.rounds):
            for row, row_args in ROWS:
                order = servers if rnd % 2 == 0 else list(reversed(servers))
                for s in order:
                    n += 1
                    out = os.path.join(work, f"run-{n:03d}.json")
                    r = run_loadgen(cur, s, row, row_args, args.warmup, args.duration, out)
                    results.setdefault((row, s.name), []).append(r)
                    if s.proc.poll() is not None:
                        raise RuntimeError(f"{s.name} died during '{row}'")
            log(f"round {rnd + 1}/{args.rounds} done")
        loaded_rss = {s.name: s.resident_mib() for s in servers}
    finally:
        for s in servers:
            s.stop()
        if tree:
            subprocess.run(["bazel", "shutdown"], cwd=tree, capture_output=True)
            subprocess.run(["git", "worktree", "remove", "--force", tree], cwd=ROOT,
                           capture_output=True)
    med = lambda row, name, k: statistics.median(r[k] for r in results[(row, name)])
    out = []
    w = out.append
    w("# isopool against an earlier revision, side by side\n")
    w(f"Written by `bench/run.sh --baseline={args.baseline}` (bench/suite/compare.py). "
      "Three servers on this machine, the same loadgen rows against each, alternating servers "
      "within every round; medians over the rounds. Client and servers share the cores.\n")
    w("| | |\n|---|---|")
    w(f"| date | {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} |")
    w(f"| current | `{head}`{' (with uncommitted changes)' if dirty else ''}: `workers` = default "
      "flags (2 worker processes + a spare), `in-process` = `--workers=0` |")
    w(f"| baseline | `{rev}` (`{args.baseline}`), default flags |")
    w(f"| runs | {args.rounds} rounds x {args.warmup:g} s warm-up + {args.duration:g} s per row and "
      f"server; {time.time() - t0:.0f} s in all, builds included |")
    w(f"| machine | {os.cpu_count()} cores; 1-min load average at the end "
      f"{open('/proc/loadavg').read().split()[0]} |")
    w("")
    w("| row | server | req/s | vs baseline | p50 ms | p99 ms | p99 vs baseline | unexpected "
      "errors |\n|---|---|---|---|---|---|---|---|")
    for row, _ in ROWS:
        b_rps, b_p99 = med(row, "baseline", "rps"), med(row, "baseline", "p99")
        for s in servers:
            rps, p99 = med(row, s.name, "rps"), med(row, s.name, "p99")
            errors = sum(r["unexpected"] for r in results[(row, s.name)])
            cmp_rps = "—" if s.name == "baseline" else f"{rps / b_rps:.2f}x"
            cmp_p99 = "—" if s.name == "baseline" else f"{p99 / b_p99:.2f}x"
            w(f"| {row} | {s.name} | {rps:,.0f} | {cmp_rps} | {med(row, s.name, 'p50') / 1000:.2f} "
              f"| {p99 / 1000:.2f} | {cmp_p99} | {errors} |")
    w("")
    clean, hostile = "mixed clean c=16", "mixed 1% hostile c=16"
    w("Mixed load, well-behaved p99 under 1% hostile calls vs clean: " + ", ".join(
        f"{s.name} {med(hostile, s.name, 'p99') / med(clean, s.name, 'p99'):.2f}x"
        for s in servers) + " (target: within 2x).\n")
    w("Resident memory (server + its worker processes), MiB, idle after uploads / after the "
      "runs: " + ", ".join(f"{s.name} {idle_rss[s.name]:.0f} / {loaded_rss[s.name]:.0f}"
                           for s in servers) + ".\n")
    with open(args.out, "w") as f:
        f.write("\n".join(out))
    log(f"wrote {args.out}")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
