#!/usr/bin/python3
"""launcher.py: ready means both ports answer, flags and the environment reach the server, the
server stops with the `with` block (or when this process dies), and a server that cannot start
raises LaunchError at once."""
import os
import sys
import time
import urllib.request

sys.dont_write_bytecode = True  # no __pycache__ in the runfiles
sys.path.insert(0, os.path.join(os.environ["TEST_SRCDIR"], "isopool", "tests", "harness"))
import launcher  # noqa: E402


def running(pid):
    """Alive and not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except FileNotFoundError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def ends(pid, within=20):
    give_up = time.monotonic() + within
    while time.monotonic() < give_up:
        if not running(pid):
            return True
        time.sleep(0.01)
    return False


def check(name, ok, detail=""):
    if not ok:
        sys.exit(f"FAIL {name} {detail}")
    print(f"ok   {name}")


def main():
    env = dict(os.environ, ISOPOOL_MAX_PENDING_CALLS="7")
    with launcher.Server("--workers=1", env=env) as server:
        check("address names the gRPC port", server.address == f"127.0.0.1:{server.grpc_port}")
        check("the server runs", running(server.pid))
        check("/metrics answers at once", "isopool_" in server.metrics())
        log = server.log_text()
        check("flags reach the server", '"workers":1' in log, log[-2000:])
        with open(server.port_file) as f:
            check("the port file is the server's",
                  f.read() == (f'{{"grpc_port":{server.grpc_port},'
                               f'"metrics_port":{server.metrics_port},"pid":{server.pid}}}\n'))
        with urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics") as r:
            check("metrics_port is the metrics endpoint", r.status == 200)
        pid = server.pid
    check("the with block stops the server cleanly", server.returncode == 0, server.returncode)
    check("the server is gone", ends(pid))
    check("stop() again is harmless", server.stop() == 0)

    server_binary = os.path.join(os.environ["TEST_SRCDIR"], "isopool", "service", "isopool_server")
    with launcher.Server(server=server_binary) as server:
        check("server= names the binary it runs",
              os.path.realpath(f"/proc/{server.pid}/exe") == os.path.realpath(server_binary))

    started = time.monotonic()
    try:
        launcher.Server("--log_level=loud").start()
        check("a bad flag raises LaunchError", False)
    except launcher.LaunchError as e:
        check("a bad flag raises LaunchError with the server's log",
              "did not start" in str(e) and "bad_config" in str(e), e)
    check("... at once, not at the start timeout", time.monotonic() - started < 10)


if __name__ == "__main__":
    main()
