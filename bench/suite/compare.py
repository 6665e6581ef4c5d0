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
import filecmp
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import benchlib  # noqa: E402 (this folder)

ROOT = benchlib.ROOT

# (row, concurrency, loadgen arguments): the rows of the targets.
ECHO_SHARED = ["--snapshot=echo-shared", "--function=echo", "--args_json=[1]"]
ECHO_CONTEXT = ["--snapshot=echo-context", "--function=echo", "--args_json=[1]"]
ROWS = [
    ("echo-shared c=16", 16, ECHO_SHARED),
    ("echo-context c=16", 16, ECHO_CONTEXT),
    ("blank 1+1 c=16", 16, ["--source=1+1"]),
    ("echo-shared c=1", 1, ECHO_SHARED),
    ("mixed clean c=16", 16, ECHO_CONTEXT),
    ("mixed 1% hostile c=16", 16, ECHO_CONTEXT + ["--hostile_fraction=0.01", "--hostile=loop,heap",
                                                  "--hostile_timeout_ms=50",
                                                  "--hostile_heap_mib=16"]),
]


def log(msg):
    print(f"compare: {msg}", file=sys.stderr, flush=True)


def baseline_tree(rev, work):
    """A git worktree of `rev` with what git does not hold: the unpacked V8 (a link to ours) and
    the npm packages the build bundles (a link when its lock file is ours, else installed)."""
    tree = os.path.join(work, "baseline-src")
    subprocess.run(["git", "worktree", "add", "--detach", "-q", tree, rev], cwd=ROOT, check=True)
    os.symlink(os.path.join(ROOT, "third_party/v8/root"),
               os.path.join(tree, "third_party/v8/root"))
    npm = "engine/web/npm"
    if os.path.exists(os.path.join(tree, npm, "package-lock.json")):
        if filecmp.cmp(os.path.join(tree, npm, "package-lock.json"),
                       os.path.join(ROOT, npm, "package-lock.json"), shallow=False):
            os.symlink(os.path.join(ROOT, npm, "node_modules"),
                       os.path.join(tree, npm, "node_modules"))
        else:
            subprocess.run(["bash", "tools/npm_test_deps.sh", npm], cwd=tree, check=True,
                           timeout=600)
    return tree


def run_row(bins, server, label, concurrency, args, warmup, duration, out):
    rc = benchlib.run_loadgen(bins, server.addr, label, concurrency, warmup, duration, out,
                              ["--rpc=execute"] + args, stdout=subprocess.DEVNULL)
    if rc != 0:
        raise RuntimeError(f"loadgen '{label}' against {server.name} exited {rc}")
    r = benchlib.read_loadgen_json(out)
    return {"rps": r["requests_per_second"], "p50": r["latency_ok"]["p50"],
            "p99": r["latency_ok"]["p99"], "unexpected": r["unexpected_errors"]}


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
        cur = benchlib.build_opt(ROOT, os.path.join(work, "bin"), list(benchlib.TARGETS))
        log(f"building {rev} -c opt in a temporary worktree")
        tree = baseline_tree(rev, work)
        base_targets = ["isopool_server", "isopool_pack"]
        if os.path.exists(os.path.join(tree, "worker/BUILD.bazel")):
            base_targets.append("isopool_worker")
        base = benchlib.build_opt(tree, os.path.join(work, "bin-base"), base_targets)
        seed = benchlib.write_hash_seed(os.path.join(work, "hash_seed"))
        for name, bins, extra in (("workers", cur, []), ("in-process", cur, ["--workers=0"]),
                                  ("baseline", base, [])):
            try:
                servers.append(benchlib.start_server(name, bins, work, seed, extra, timeout=60,
                                                     launch_server=cur["launch_server"]))
            except benchlib.launcher.LaunchError as e:
                hint = (f"\n{rev} may predate the server's --port_file, which the launcher "
                        "waits for: compare against a later revision" if name == "baseline"
                        else "")
                raise RuntimeError(f"{name} did not start: {e}{hint}") from e
        echo = os.path.join(work, "echo.js")
        with open(echo, "w") as f:
            f.write("function echo(x) { return x; }\n")
        for s in servers:
            for mode in ("context", "shared"):
                subprocess.run([cur["isopoolctl"], "--addr", s.addr, "upload", echo, "--name",
                                f"echo-{mode}", "--isolation", mode, "--prewarm"],
                               check=True, stdout=subprocess.DEVNULL, timeout=120, env=cur.env)
        idle_rss = {s.name: s.resident_mib() for s in servers}
        results = {}
        n = 0
        for rnd in range(args.rounds):
            for row, concurrency, row_args in ROWS:
                order = servers if rnd % 2 == 0 else list(reversed(servers))
                for s in order:
                    n += 1
                    out = os.path.join(work, f"run-{n:03d}.json")
                    r = run_row(cur, s, row, concurrency, row_args, args.warmup, args.duration,
                                out)
                    results.setdefault((row, s.name), []).append(r)
                    if not s.alive():
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
    for row, _, _ in ROWS:
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
