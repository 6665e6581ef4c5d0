"""The Node + isolated-vm peer of the benchmark suite (bench/peers/node-isolated-vm, its own
README): its node_modules, its server processes, and the line the report gives it. Used by
bench/suite/suite.py only, from one thread. It listens on 127.0.0.1 only.
"""

import os
import re
import shutil
import subprocess
import time

from benchlib import stop_process

PEER_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "peers/node-isolated-vm")


class PeerError(Exception):
    """The peer cannot run here; the message says why (the report's notes quote it)."""


def prepare(npm_log, log):
    """Makes sure the peer's node_modules load: `npm ci --build-from-source` (bounded to 10
    minutes, output in npm_log) when isolated-vm is missing. Raises PeerError."""
    if not shutil.which("node"):
        raise PeerError("node is not installed: the peer rows are missing")
    if not os.path.isdir(os.path.join(PEER_DIR, "node_modules/isolated-vm")):
        log(f"npm ci --build-from-source in {PEER_DIR} (isolated-vm compiles, 1-3 minutes)")
        with open(npm_log, "w") as f:
            try:
                rc = subprocess.run(["npm", "ci", "--build-from-source", "--no-audit", "--no-fund"],
                                    cwd=PEER_DIR, stdout=f, stderr=f, timeout=600).returncode
            except subprocess.TimeoutExpired:
                rc = 124
        if rc != 0:
            raise PeerError(f"npm ci failed (see {npm_log}): the peer rows are missing")
    try:
        ok = subprocess.run(["node", "-e", "require('isolated-vm'); require('@grpc/grpc-js')"],
                            cwd=PEER_DIR, capture_output=True, timeout=30).returncode == 0
    except subprocess.TimeoutExpired:
        ok = False
    if not ok:
        raise PeerError("the peer's node_modules do not load: the peer rows are missing")


class Peer:
    """One `node server.js --context MODE` process with the bundle preloaded as snapshot
    "bundle", on 127.0.0.1 port 0 (`addr`). Raises PeerError (the process stopped) when it does
    not listen within 30 s; stop() ends it."""

    def __init__(self, mode, bundle, work):
        self.mode = mode
        listen = os.path.join(work, f"peer-{mode}.listen")
        log = os.path.join(work, f"peer-{mode}.log")
        with open(listen, "w") as out, open(log, "w") as err:
            self.proc = subprocess.Popen(
                ["node", os.path.join(PEER_DIR, "server.js"), "--port", "0", "--context", mode,
                 "--bundle", bundle, "--snapshot", "bundle"],
                stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.proc.poll() is None:
            with open(listen) as f:
                m = re.search(r"^LISTENING (\d+)", f.read(), re.M)
            if m:
                self.addr = f"127.0.0.1:{m.group(1)}"
                return
            time.sleep(0.1)  # polling for its LISTENING line
        with open(log, errors="replace") as f:
            tail = " ".join(f.read().splitlines()[-3:])
        self.stop()
        raise PeerError(f"the peer ({mode}) did not listen within 30 s: {tail}")

    def stop(self):
        stop_process(self.proc, 5)


def describe():
    """The report's line for the peer."""
    node = subprocess.run(["node", "--version"], capture_output=True, text=True,
                          timeout=30).stdout.strip()
    ivm = subprocess.run(["node", "-p", "require('isolated-vm/package.json').version"],
                         cwd=PEER_DIR, capture_output=True, text=True, timeout=30).stdout.strip()
    return (f"node {node}, @grpc/grpc-js + isolated-vm {ivm}, pool of 2 isolates, "
            "bench/peers/node-isolated-vm/server.js --context reuse|new --bundle (same loadgen, "
            "same request shape)")
