#!/usr/bin/python3
"""Scenario 4 of the benchmark suite (bench/suite/suite.py runs it as a child process, under a
time bound): upload throughput, and the time to the first successful Execute after an upload,
with and without prewarm. Writes its JSON to OUT; exits 3 when any upload or call failed.

    uploads.py ADDR OUT --proto isopool.proto [--uploads 20] [--upload_concurrency 1,2]
                        [--first_exec 5]

Run it with /usr/bin/python3: Debian's interpreter has python3-grpcio and python3-protobuf; the
message classes are generated from the proto with /usr/bin/protoc ($PROTOC). Talks only to ADDR
(127.0.0.1).
"""
import argparse
import importlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import grpc  # Debian's python3-grpcio


def generate_messages(out_dir, proto):
    src = os.path.join(out_dir, "src")
    os.makedirs(os.path.join(src, "isopool_bench"))
    shutil.copy(proto, os.path.join(src, "isopool_bench", "isopool.proto"))
    subprocess.run([os.environ.get("PROTOC", "/usr/bin/protoc"), "-I", src, "--python_out",
                    out_dir, "isopool_bench/isopool.proto"], check=True, timeout=60)
    sys.path.insert(0, out_dir)
    return importlib.import_module("isopool_bench.isopool_pb2")


def percentile(values, q):
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(-(-q * len(s) // 100)) - 1))
    return s[k]


def run_uploads(args):
    with tempfile.TemporaryDirectory(prefix="isopool-bench-pb-") as tmp:
        pb = generate_messages(tmp, args.proto)
        channel = grpc.insecure_channel(args.addr)
        grpc.channel_ready_future(channel).result(timeout=10)
        upload = channel.stream_unary(
            "/isopool.v1.Isopool/UploadSnapshot",
            request_serializer=pb.UploadSnapshotRequest.SerializeToString,
            response_deserializer=pb.UploadSnapshotResponse.FromString)
        execute = channel.unary_unary(
            "/isopool.v1.Isopool/Execute",
            request_serializer=pb.ExecuteRequest.SerializeToString,
            response_deserializer=pb.ExecuteResponse.FromString)
        nonce = f"{os.getpid()}-{time.time_ns()}"
        errors = []

        rejected = []  # RESOURCE_EXHAUSTED answers, retried as the server asks

        def do_upload(name, i, prewarm):
            # Distinct bundles: each has its own constant, so each builds and stores a new envelope.
            source = f"function f(x) {{ return x + {i}; }} // {nonce}\n".encode()
            spec = pb.SnapshotSpec(name=name, prewarm=prewarm)
            reqs = [pb.UploadSnapshotRequest(spec=spec), pb.UploadSnapshotRequest(chunk=source)]
            t0 = time.perf_counter()
            for attempt in range(8):
                try:
                    resp = upload(iter(reqs), timeout=30)
                    break
                except grpc.RpcError as e:
                    if e.code() != grpc.StatusCode.RESOURCE_EXHAUSTED or attempt == 7:
                        raise
                    rejected.append(describe(e))
                    time.sleep(0.005 * 2**attempt)  # "retry with backoff"
            if not resp.created:
                raise RuntimeError(f"upload {name} was not new (created=false)")
            return time.perf_counter() - t0, resp

        # Throughput: distinct small bundles, `concurrency` uploads in flight.
        throughput = []
        for concurrency in args.upload_concurrency:
            latencies, lock, counter = [], threading.Lock(), [0]
            stop_errors = []
            rejected_before = len(rejected)

            def worker():
                while True:
                    with lock:
                        i = counter[0]
                        counter[0] += 1
                    if i >= args.uploads:
                        return
                    try:
                        dt, _ = do_upload(f"up-c{concurrency}-{i}", concurrency * 100000 + i, False)
                        with lock:
                            latencies.append(dt)
                    except Exception as e:  # grpc.RpcError or RuntimeError: counted, reported
                        with lock:
                            stop_errors.append(describe(e))

            t0 = time.perf_counter()
            threads = [threading.Thread(target=worker) for _ in range(concurrency)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=120)
            elapsed = time.perf_counter() - t0
            errors.extend(stop_errors)
            throughput.append({
                "concurrency": concurrency, "uploads": len(latencies), "errors": len(stop_errors),
                "first_error": stop_errors[0] if stop_errors else "",
                "rejected": len(rejected) - rejected_before,
                "seconds": round(elapsed, 3),
                "uploads_per_second": round(len(latencies) / elapsed, 2) if elapsed > 0 else 0,
                "p50_ms": round(percentile(latencies, 50) * 1000, 1) if latencies else None,
                "max_ms": round(max(latencies) * 1000, 1) if latencies else None,
            })

        # Time to first successful Execute after the upload returned, polled without delay.
        first = []
        for prewarm in (False, True):
            samples = []
            for k in range(args.first_exec):
                i = 900000 + (1000 if prewarm else 0) + k
                name = f"first-{'prewarm' if prewarm else 'cold'}-{k}"
                try:
                    up_s, _ = do_upload(name, i, prewarm)
                except Exception as e:
                    errors.append(describe(e))
                    continue
                t0 = time.perf_counter()
                attempts, last = 0, ""
                request = pb.ExecuteRequest(
                    snapshot=name, function=pb.FunctionCall(name="f", args_json="[1]"))
                while time.perf_counter() - t0 < 10:
                    attempts += 1
                    try:
                        resp = execute(request, timeout=10)
                    except grpc.RpcError as e:
                        last = describe(e)
                        continue
                    if resp.HasField("error"):
                        last = f"script error {resp.error.kind}: {resp.error.message}"
                        continue
                    if resp.result_json != str(1 + i):
                        last = f"wrong result {resp.result_json!r}, want {1 + i}"
                        continue
                    samples.append({
                        "upload_ms": round(up_s * 1000, 2),
                        "first_ok_ms": round((time.perf_counter() - t0) * 1000, 3),
                        "attempts": attempts, "warm": resp.stats.warm,
                        "restore_us": resp.stats.restore_us,
                        "queue_wait_us": resp.stats.queue_wait_us,
                        "wall_us": resp.stats.wall_us})
                    last = ""
                    break
                if last:
                    errors.append(f"{name}: no successful Execute within 10 s ({last})")
            first.append({"prewarm": prewarm, "samples": samples})
        channel.close()

    # With no more uploads in flight than --max_concurrent_uploads, a rejection is unexpected.
    errors.extend(f"rejected, then retried: {r}" for r in rejected)
    out = {"throughput": throughput, "first_execute": first, "errors": errors,
           "rejected": len(rejected)}
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    for t in throughput:
        print(f"uploads c={t['concurrency']}: {t['uploads_per_second']} uploads/s "
              f"(p50 {t['p50_ms']} ms, max {t['max_ms']} ms, errors {t['errors']}, "
              f"RESOURCE_EXHAUSTED retried {t['rejected']})")
    for f_ in first:
        ms = [s["first_ok_ms"] for s in f_["samples"]]
        if ms:
            print(f"first Execute after upload, prewarm={f_['prewarm']}: median "
                  f"{statistics.median(ms):.2f} ms, max {max(ms):.2f} ms over {len(ms)}")
    for e in errors:
        print(f"ERROR {e}", file=sys.stderr)
    return 3 if errors else 0


def describe(e):
    try:
        return f"{e.code().name}: {e.details()}"
    except AttributeError:
        return str(e)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("addr")
    p.add_argument("out")
    p.add_argument("--proto", required=True)
    p.add_argument("--uploads", type=int, default=20)
    p.add_argument("--upload_concurrency", type=lambda s: [int(x) for x in s.split(",")],
                   default=[1, 2])
    p.add_argument("--first_exec", type=int, default=5)
    return run_uploads(p.parse_args())


if __name__ == "__main__":
    sys.exit(main())
