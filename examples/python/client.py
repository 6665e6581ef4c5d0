#!/usr/bin/python3
"""An isopool client in Python that uses only the .proto files.

Run it with Debian's interpreter, which has python3-grpcio and python3-protobuf:

    /usr/bin/python3 examples/python/client.py [--addr 127.0.0.1:50051] [--name example-stats]

It generates the message classes at start with /usr/bin/protoc --python_out (into a temporary
directory), calls the service through a small hand-written stub (channel.unary_unary and
channel.stream_unary; no generated gRPC code), and then:
  1. checks grpc.health.v1 (SERVING),
  2. uploads ../bundle/stats.mjs as an ES module snapshot (client streaming, 64 KiB chunks),
  3. executes its `summarize` export with JSON arguments and prints the result.
It exits non-zero on any failure. The address also comes from $ISOPOOL_ADDR.
"""
import argparse
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
ISOPOOL_PROTO = os.environ.get(
    "ISOPOOL_PROTO", os.path.join(HERE, "..", "..", "proto", "isopool", "v1", "isopool.proto"))
HEALTH_PROTO = os.environ.get(
    "ISOPOOL_HEALTH_PROTO", "/usr/share/grpc-proto/grpc/health/v1/health.proto")
PROTOC = os.environ.get("PROTOC", "/usr/bin/protoc")
BUNDLE = os.path.join(HERE, "..", "bundle", "stats.mjs")
CHUNK_BYTES = 64 << 10
TIMEOUT_S = 30


def generate_messages(out_dir):
    """Compiles both .proto files to Python message modules in out_dir; returns the modules.

    health.proto is copied to a private path first: its natural module path, grpc/health/v1/,
    would shadow the grpc package itself. The proto package (grpc.health.v1), and so the
    method names on the wire, stay the same.
    """
    src = os.path.join(out_dir, "src")
    os.makedirs(os.path.join(src, "isopool_example"))
    shutil.copy(ISOPOOL_PROTO, os.path.join(src, "isopool_example", "isopool.proto"))
    shutil.copy(HEALTH_PROTO, os.path.join(src, "isopool_example", "health.proto"))
    subprocess.run([PROTOC, "-I", src, "--python_out", out_dir,
                    "isopool_example/isopool.proto", "isopool_example/health.proto"],
                   check=True)
    sys.path.insert(0, out_dir)
    return (importlib.import_module("isopool_example.isopool_pb2"),
            importlib.import_module("isopool_example.health_pb2"))


class IsopoolStub:
    """The calls of isopool.v1.Isopool this example uses, bound to a channel."""

    def __init__(self, channel, pb):
        self.Execute = channel.unary_unary(
            "/isopool.v1.Isopool/Execute",
            request_serializer=pb.ExecuteRequest.SerializeToString,
            response_deserializer=pb.ExecuteResponse.FromString)
        self.UploadSnapshot = channel.stream_unary(
            "/isopool.v1.Isopool/UploadSnapshot",
            request_serializer=pb.UploadSnapshotRequest.SerializeToString,
            response_deserializer=pb.UploadSnapshotResponse.FromString)


class HealthStub:
    def __init__(self, channel, health_pb):
        self.Check = channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_pb.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb.HealthCheckResponse.FromString)


def affinity(snapshot):
    """Snapshot affinity: a router in front of several replicas hashes this header, so calls
    for one snapshot reach the replica whose pool is warm (deploy/README.md)."""
    return [("x-isopool-snapshot", snapshot)] if snapshot else []


def upload_requests(pb, spec, data):
    """The UploadSnapshot stream: the spec first, then the bundle in chunks."""
    yield pb.UploadSnapshotRequest(spec=spec)
    for offset in range(0, len(data), CHUNK_BYTES):
        yield pb.UploadSnapshotRequest(chunk=data[offset:offset + CHUNK_BYTES])


def run(args, pb, health_pb):
    # isopool listens in plaintext today (TLS is terminated in front of it).
    with grpc.insecure_channel(args.addr) as channel:
        health = HealthStub(channel, health_pb).Check(
            health_pb.HealthCheckRequest(service="isopool.v1.Isopool"), timeout=TIMEOUT_S)
        status = health_pb.HealthCheckResponse.ServingStatus.Name(health.status)
        if health.status != health_pb.HealthCheckResponse.SERVING:
            raise RuntimeError(f"server at {args.addr} is {status}")
        print(f"health: {status} ({args.addr})")

        stub = IsopoolStub(channel, pb)
        with open(BUNDLE, "rb") as f:
            bundle = f.read()
        spec = pb.SnapshotSpec(name=args.name, kind=pb.ES_MODULE)
        uploaded = stub.UploadSnapshot(upload_requests(pb, spec, bundle), timeout=TIMEOUT_S,
                                       metadata=affinity(spec.name))
        snapshot = uploaded.snapshot
        print(f"uploaded {snapshot.name}: {snapshot.id} ({snapshot.blob_bytes} bytes of snapshot,"
              f" {'new' if uploaded.created else 'already stored'})")

        numbers = [4, 8, 15, 16, 23, 42]
        request = pb.ExecuteRequest(
            snapshot=args.name,
            function=pb.FunctionCall(name="summarize", args_json=json.dumps([numbers])),
            limits=pb.Limits(timeout_ms=1000))
        response = stub.Execute(request, timeout=TIMEOUT_S, metadata=affinity(request.snapshot))
        for line in response.logs:
            print(f"  [{pb.LogLine.Level.Name(line.level)}] {line.message}")
        if response.HasField("error"):
            error = response.error
            raise RuntimeError(f"script error {pb.ScriptError.Kind.Name(error.kind)}: "
                               f"{error.message}\n{error.stack}")
        result = json.loads(response.result_json)
        print(f"summarize({json.dumps(numbers)}) = {json.dumps(result)}")
        print(f"  wall {response.stats.wall_us} us, queue {response.stats.queue_wait_us} us, "
              f"warm {response.stats.warm}")
        # The example checks its own answer, so a broken server cannot pass for a working one.
        if result.get("sum") != 108 or result.get("median") != 15.5 or result.get("count") != 6:
            raise RuntimeError(f"unexpected result {response.result_json}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default=os.environ.get("ISOPOOL_ADDR", "127.0.0.1:50051"))
    parser.add_argument("--name", default="example-stats")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="isopool-example-") as out_dir:
        pb, health_pb = generate_messages(out_dir)
        try:
            run(args, pb, health_pb)
        except grpc.RpcError as e:
            print(f"client.py: {e.details()} (gRPC {e.code().name})", file=sys.stderr)
            return 1
        except (RuntimeError, ValueError) as e:
            print(f"client.py: {e}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
