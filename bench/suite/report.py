#!/usr/bin/python3
"""The report of bench/suite/suite.py: bench/RESULTS.md from the loadgen JSON reports, the
scenario-4 JSON and the run's metadata, keeping the hand-written analysis section of an existing
file; and the shared-store section spliced into it. Split from suite.py so each file does one
job.
"""

import glob
import json
import os
import statistics
import sys

from benchlib import read_loadgen_json


def ms(us):
    return "—" if us is None else f"{us / 1000:.2f}"


def load_runs(runs_dir):
    runs = {}
    for path in sorted(glob.glob(os.path.join(runs_dir, "*.json"))):
        r = read_loadgen_json(path)
        runs.setdefault(r["label"], []).append(r)
    return runs


def summary(rs):
    """Median over the repeated runs of one label (rates and each percentile separately)."""
    med = lambda xs: statistics.median(xs)
    lat = lambda r: r["latency_ok"]
    return {
        "runs": len(rs),
        "rps": med([r["requests_per_second"] for r in rs]),
        "rps_each": [r["requests_per_second"] for r in rs],
        "p50": med([lat(r)["p50"] for r in rs]), "p90": med([lat(r)["p90"] for r in rs]),
        "p99": med([lat(r)["p99"] for r in rs]), "p999": med([lat(r)["p999"] for r in rs]),
        "max": max(lat(r)["max"] for r in rs),
        "unexpected": sum(r["unexpected_errors"] for r in rs),
        "codes": merge_counts([r["errors_by_code"] for r in rs]),
        "concurrency": rs[0]["concurrency"],
        "load": [r.get("loadavg_start", -1) for r in rs],
        "client_cpu": med([r.get("client_cpu_seconds", 0) for r in rs]),
        "hard_cap": any(r.get("hard_cap_hit") for r in rs),
        "raw": rs,
    }


def merge_counts(dicts):
    out = {}
    for d in dicts:
        for k, v in d.items():
            out[k] = out.get(k, 0) + v
    return out


ANALYSIS_BEGIN = "<!-- analysis:begin (hand-written; kept when the suite rewrites this file) -->"
ANALYSIS_END = "<!-- analysis:end -->"


def kept_analysis(path):
    try:
        text = open(path).read()
    except OSError:
        return None
    a, b = text.find(ANALYSIS_BEGIN), text.find(ANALYSIS_END)
    if a < 0 or b < a:
        return None
    return text[a + len(ANALYSIS_BEGIN):b].strip("\n")


def write_report(runs_dir, meta, out_path, uploads_path="", keep_analysis=False):
    """Writes out_path; returns 3 when any isopool run (or upload) had unexpected errors, else
    0. `meta`: the run's metadata (suite.py's run_metadata)."""
    runs = {k: summary(v) for k, v in load_runs(runs_dir).items()}
    uploads = None
    if uploads_path and os.path.exists(uploads_path):
        with open(uploads_path) as f:
            uploads = json.load(f)
    out = []
    w = out.append
    w("# End-to-end load: isopool vs the bare-gRPC floor and the Node + isolated-vm peer\n")
    w(f"Written by `{meta['command']}` (bench/suite/suite.py); bench/README.md explains every "
      "row. Do not edit by hand outside the analysis section: the next run rewrites the rest.\n")
    w("| | |\n|---|---|")
    w(f"| date | {meta['date']} |")
    w(f"| machine | {meta['cores']} cores, {meta['cpu']}, {meta['mem']} |")
    w(f"| commit | `{meta['commit']}`{' (with uncommitted changes)' if meta.get('dirty') else ''} |")
    w(f"| mode | {meta['mode']}; warm-up {meta['warmup']} s + {meta['duration']} s measured per run; "
      f"{meta['rounds']} alternating round(s) for the ratio rows (medians shown) |")
    w(f"| pinning | main table: client and server **share** both cores (not pinned). "
      f"{'Pinned table: server (or peer) on CPU 0, loadgen on CPU 1 (CPU affinity).' if meta.get('pinned') else 'No pinned table in this run.'} |")
    w("| client | loadgen (-c opt), async API, 1 completion-queue thread, 2 channels, "
      "deadline 5 s |")
    w(f"| server | isopool_server -c opt, default flags except `--listen`, `--metrics_listen`, "
      f"`--data_dir` (temp), `--pack_binary`, `--hash_seed_file`; {meta.get('server_note', '')} |")
    w(f"| peer | {meta.get('peer', 'not run')} |")
    w(f"| machine load | 1-min load average {meta.get('load_start', '?')} at start, "
      f"{meta.get('load_end', '?')} at end; {meta.get('busy', '')} |")
    w(f"| wall time | {meta.get('wall_seconds', '?')} s for the whole suite, build included |")
    w("")

    def row(label, name, mode, note=""):
        s = runs.get(label)
        if s is None:
            return
        codes = ", ".join(f"{k}={v}" for k, v in sorted(s["codes"].items()))
        errs = f"{s['unexpected']}" + (f" ({codes})" if codes else "")
        if s["hard_cap"]:
            errs += " HARD CAP HIT"
        w(f"| {name} | {mode} | {s['concurrency']} | {s['runs']} | {s['rps']:,.0f} | "
          f"{ms(s['p50'])} | {ms(s['p90'])} | {ms(s['p99'])} | {ms(s['p999'])} | {ms(s['max'])} | "
          f"{errs} | {note} |")

    header = ("| what | mode | c | runs | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | "
              "unexpected errors | notes |\n|---|---|---|---|---|---|---|---|---|---|---|---|")
    w("## Main table (client and server sharing the 2 cores)\n")
    w("Medians over the runs of each row (max: the largest of all runs). Latencies are the "
      "client's, per call, in ms. \"unexpected errors\" counts non-OK gRPC codes and script "
      "errors on well-behaved calls.\n")
    w(header)
    for c in (1, 16, 64):
        row(f"floor c={c}", "floor: grpc.health.v1/Check", "—", "same server, same client")
    for c in (1, 16, 64):
        for mode in ("fresh", "context", "shared"):
            row(f"echo-{mode} c={c}", "S1 echo(x) from a snapshot", mode,
                "default mode" if mode == "context" else "")
        row(f"blank c={c}", "S1 inline `1+1`, blank snapshot", "context (server default)")
    for c in (1, 16):
        row(f"bundle-context c={c}", "S2 handler() on the 750 KiB bundle", "context")
        row(f"bundle-shared c={c}", "S2 handler() on the 750 KiB bundle", "shared")
    for label, mode in (("mixed-clean", "clean"), ("mixed-hostile", "1% hostile")):
        s = runs.get(label)
        if s:
            note = ""
            if label == "mixed-hostile":
                h = merge_counts([r["hostile"]["script_errors"] for r in s["raw"]])
                cond = sum(r["isolates_condemned"] for r in s["raw"])
                note = (f"well-behaved latencies; hostile calls: "
                        f"{sum(r['hostile']['requests'] for r in s['raw'])} "
                        f"({', '.join(f'{k}={v}' for k, v in sorted(h.items()))}), condemned "
                        f"{cond} (loadgen) / {meta.get('condemned_metric', '?')} (server metric)")
            row(label, "S3 echo(x), mixed load", f"context, {mode}", note)
    w("| | | | | | | | | | | | |")
    row("peer-health c=16", "peer: grpc.health.v1/Check", "—", "grpc-js floor")
    row("peer-reuse c=16", "peer: inline `1+1`", "reuse context", "")
    row("peer-new c=16", "peer: inline `1+1`", "new context per call", "")
    row("peer-bundle-reuse c=16", "peer: handler() on the 750 KiB bundle", "reuse context", "")
    row("peer-bundle-new c=16", "peer: handler() on the 750 KiB bundle", "new context per call",
        "bundle evaluated per call")
    s = runs.get("peer-mixed-hostile c=16")
    if s:
        h = merge_counts([r["hostile"]["script_errors"] for r in s["raw"]])
        row("peer-mixed-hostile c=16", "peer: inline `1+1`, mixed load", "reuse, 1% hostile",
            f"well-behaved latencies; hostile: {', '.join(f'{k}={v}' for k, v in sorted(h.items()))}")
    w("")
    w("Per-run req/s of the alternating rows (in run order), and the 1-minute load average at "
      "the start of each:\n")
    for label in ("floor c=16", "echo-context c=16", "blank c=16", "echo-shared c=16",
                  "peer-reuse c=16", "peer-new c=16"):
        s = runs.get(label)
        if s:
            w(f"- {label}: " + ", ".join(f"{x:,.0f}" for x in s["rps_each"]) +
              " (load " + ", ".join(f"{x:.1f}" for x in s["load"]) + ")")
    w("")

    pinned = [k for k in runs if k.startswith("pinned ")]
    if pinned:
        w("## Pinned (server or peer on CPU 0, loadgen on CPU 1)\n")
        w(header)
        for label, name, mode in (
                ("pinned floor c=16", "floor: grpc.health.v1/Check", "—"),
                ("pinned echo-context c=16", "S1 echo(x)", "context"),
                ("pinned echo-shared c=16", "S1 echo(x)", "shared"),
                ("pinned peer-reuse c=16", "peer: inline `1+1`", "reuse context"),
                ("pinned peer-new c=16", "peer: inline `1+1`", "new context per call")):
            row(label, name, mode, "one core each")
        w("")

    if uploads:
        w("## Scenario 4: uploads\n")
        w("Distinct small classic-script bundles, default spec, one gRPC channel from a Python "
          "client (bench/suite/uploads.py). Upload latency is the whole `UploadSnapshot` call: "
          "stream, pack in the `isopool_pack` child, store.\n")
        w("A `RESOURCE_EXHAUSTED` answer is retried with backoff (5, 10, 20 ms ...), as its "
          "message asks, and counted: with no more uploads in flight than "
          "`--max_concurrent_uploads` (2) there should be none.\n")
        w("| uploads in flight | uploads | uploads/s | p50 ms | max ms | RESOURCE_EXHAUSTED, retried | "
          "errors |\n|---|---|---|---|---|---|---|")
        for t in uploads["throughput"]:
            w(f"| {t['concurrency']} | {t['uploads']} | {t['uploads_per_second']} | "
              f"{t['p50_ms']} | {t['max_ms']} | {t.get('rejected', 0)} | {t['errors']}"
              f"{' (' + t['first_error'] + ')' if t['first_error'] else ''} |")
        w("")
        w("Time from the upload's reply to the first successful `Execute` of `f(1)` (polled "
          "immediately, no sleep):\n")
        w("| prewarm | samples | median ms | max ms | first call warm? | median restore_us | "
          "median queue_wait_us |\n|---|---|---|---|---|---|---|")
        for f_ in uploads["first_execute"]:
            ss = f_["samples"]
            if not ss:
                w(f"| {f_['prewarm']} | 0 | — | — | — | — | — |")
                continue
            w(f"| {'yes' if f_['prewarm'] else 'no'} | {len(ss)} | "
              f"{statistics.median(s['first_ok_ms'] for s in ss):.2f} | "
              f"{max(s['first_ok_ms'] for s in ss):.2f} | "
              f"{sum(1 for s in ss if s['warm'])}/{len(ss)} | "
              f"{statistics.median(int(s['restore_us']) for s in ss)} | "
              f"{statistics.median(int(s['queue_wait_us']) for s in ss)} |")
        if uploads["errors"]:
            w(f"\nErrors ({len(uploads['errors'])}, first 3): " + "; ".join(uploads["errors"][:3]))
        w("")

    # Ratios and targets.
    def rps(label):
        s = runs.get(label)
        return s["rps"] if s else None

    def ratio(a, b):
        return rps(a) / rps(b) if rps(a) and rps(b) else None

    checks = []

    def target(name, value, ok, target_text, fmt="{:.2f}x"):
        if value is None:
            checks.append((name, "not measured", target_text, "—"))
        else:
            checks.append((name, fmt.format(value), target_text, "met" if ok(value) else "**missed**"))

    r = ratio("echo-context c=16", "peer-reuse c=16")
    target("default mode (context) echo vs peer reuse `1+1`, c=16", r, lambda v: v >= 3, "≥ 3x")
    s = runs.get("echo-context c=16")
    target("default mode (context) echo p99, c=16", s["p99"] / 1000 if s else None,
           lambda v: v <= 2, "≤ 2 ms", "{:.2f} ms")
    r = ratio("echo-context c=16", "floor c=16")
    target("default mode (context) echo vs floor, c=16", r, lambda v: v >= 0.7, "≥ 0.7x")
    r = ratio("echo-context c=16", "peer-new c=16")
    target("context mode echo vs peer new-context `1+1`, c=16", r, lambda v: v >= 3, "≥ 3x")
    r = ratio("blank c=16", "peer-new c=16")
    target("context mode blank `1+1` vs peer new-context `1+1`, c=16", r, lambda v: v >= 3, "≥ 3x")
    clean, mixed = runs.get("mixed-clean"), runs.get("mixed-hostile")
    target("mixed load: well-behaved p99 / clean p99",
           mixed["p99"] / clean["p99"] if clean and mixed else None, lambda v: v <= 2, "≤ 2x")
    is_peer = lambda label: label.startswith("peer-") or label.startswith("pinned peer-")
    unexpected = sum(s["unexpected"] for k, s in runs.items() if not is_peer(k))
    if uploads:
        unexpected += len(uploads["errors"])
    peer_unexpected = sum(s["unexpected"] for k, s in runs.items() if is_peer(k))
    target("unexpected errors, all isopool runs (uploads included)", unexpected, lambda v: v == 0,
           "0", "{:d}")
    w("## Targets (issue 6)\n")
    w("| target | measured | wanted | |\n|---|---|---|---|")
    for c in checks:
        w(f"| {c[0]} | {c[1]} | {c[2]} | {c[3]} |")
    w("")
    if peer_unexpected:
        w(f"The peer had {peer_unexpected} unexpected error(s) (see its rows); they are the "
          "peer's, not counted above.\n")
    w("Other ratios from the same session:\n")
    for a, b, text in (
            ("echo-shared c=16", "peer-reuse c=16", "shared-mode echo vs peer reuse `1+1` (same "
                                                    "semantics: globals persist)"),
            ("blank c=16", "peer-reuse c=16", "blank `1+1` (context) vs peer reuse `1+1`"),
            ("echo-shared c=16", "floor c=16", "shared-mode echo vs floor"),
            ("blank c=16", "floor c=16", "blank `1+1` vs floor"),
            ("bundle-context c=16", "peer-bundle-new c=16", "750 KiB bundle, context vs peer new "
                                                            "context"),
            ("bundle-shared c=16", "peer-bundle-reuse c=16", "750 KiB bundle, shared vs peer "
                                                             "reuse"),
            ("peer-reuse c=16", "peer-health c=16", "peer reuse `1+1` vs the peer's own grpc-js "
                                                    "floor"),
            ("pinned echo-context c=16", "pinned peer-reuse c=16", "pinned: context echo vs peer "
                                                                   "reuse"),
            ("pinned echo-shared c=16", "pinned peer-reuse c=16", "pinned: shared echo vs peer "
                                                                  "reuse"),
            ("pinned echo-context c=16", "pinned floor c=16", "pinned: context echo vs floor")):
        v = ratio(a, b)
        if v is not None:
            w(f"- {text}: **{v:.2f}x** ({rps(a):,.0f} vs {rps(b):,.0f} req/s)")
    w("")
    if meta.get("notes"):
        w("## Notes from this run\n")
        for n in meta["notes"]:
            w(f"- {n}")
        w("")
    w("## Analysis\n")
    w(ANALYSIS_BEGIN)
    kept = kept_analysis(out_path) if keep_analysis else None
    w(kept if kept else "_No analysis written for this run yet._")
    w(ANALYSIS_END)
    w("")
    w(f"Raw JSON reports of this run: `{runs_dir}` (temporary).")
    with open(out_path + ".tmp", "w") as f:
        f.write("\n".join(out) + "\n")
    os.replace(out_path + ".tmp", out_path)
    print(f"wrote {out_path}", file=sys.stderr)
    for c in checks:
        print(f"  {c[3]:>10}  {c[0]}: {c[1]} (want {c[2]})", file=sys.stderr)
    return 3 if unexpected else 0


SHARED_BEGIN, SHARED_END = "<!-- shared-store:begin -->", "<!-- shared-store:end -->"


def add_shared_store(out_path, table):
    """Puts the shared-store benchmark's table (bench/shared_store, run by the suite after the
    load runs) between its markers in out_path, or at its end."""
    section = (f"{SHARED_BEGIN}\n## Shared store vs filesystem store (issue 11)\n\n"
               "`bazel run -c opt //bench/shared_store:shared_store_bench`, run by this suite after "
               "the load runs: one fs server and two shared-store replicas on a real PostgreSQL 15 "
               "and a real Ceph radosgw on this machine, interleaved.\n\n" + table.strip() +
               f"\n{SHARED_END}")
    with open(out_path) as f:
        text = f.read()
    if SHARED_BEGIN in text and SHARED_END in text:
        text = (text[:text.index(SHARED_BEGIN)] + section +
                text[text.index(SHARED_END) + len(SHARED_END):])
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    with open(out_path, "w") as f:
        f.write(text)
