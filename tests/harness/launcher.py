"""The real isopool_server for Python tests and benchmarks: a thin wrapper over
//tests/harness:launch_server (launch_server.cc, built on server_process.h).

    import launcher
    with launcher.Server("--workers=1", log="/tmp/x/server.log") as server:
        server.address        # "127.0.0.1:41234"
        server.grpc_port, server.metrics_port, server.pid, server.log_path, server.data_dir
        server.metrics()      # the /metrics text now
        server.log_text()     # what the server wrote so far

Server(*flags, data_dir=None, log=None, env=None, server=None, binary=None, start_timeout=30,
       stop_grace=10)
    flags          server flags, after the launcher's own --listen=127.0.0.1:0
                   --metrics_listen=127.0.0.1:0 --port_file --data_dir (so they may override them)
    data_dir, log  the server's --data_dir and log file (default: new temp paths)
    env            the server's environment (default: this process's)
    server         the isopool_server binary (default: beside launch_server or in its runfiles)
    binary         the launch_server binary (default: see launch_server_path())
  .start()         starts it and waits until the server is ready (its port file); returns self.
                   Raises LaunchError with the launcher's reason and the end of the server's log.
  .launcher_messages()  what the launcher wrote on stderr (nothing unless something failed).
  .stop()          stops it (SIGTERM, SIGKILL after stop_grace) and returns the launcher's exit
                   status: 0 when the server exited 0. Idempotent. `with` calls start and stop.
  .running()       whether the launcher, and so the server, is still running.
  .process         the launcher's subprocess.Popen.

The launcher's stdin is a pipe this process holds: when this process dies, however it dies, the
launcher sees EOF and stops the server. Nothing here reads the server's log to find a port.
"""
import json
import os
import subprocess
import tempfile

__all__ = ["LaunchError", "Server", "launch_server_path"]


class LaunchError(Exception):
    """The server did not become ready; the message says why (and shows the end of its log)."""


def launch_server_path():
    """The launch_server binary: $ISOPOOL_LAUNCH_SERVER, else beside this file (runfiles), else
    in $RUNFILES_DIR or $TEST_SRCDIR, else bazel-bin/ of the repository this file is in."""
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
    candidates = [os.environ.get("ISOPOOL_LAUNCH_SERVER", ""), os.path.join(here, "launch_server")]
    for env in ("RUNFILES_DIR", "TEST_SRCDIR"):
        if os.environ.get(env):
            candidates.append(os.path.join(os.environ[env], "isopool", "tests", "harness",
                                           "launch_server"))
    candidates.append(os.path.join(repo, "bazel-bin", "tests", "harness", "launch_server"))
    for path in candidates:
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise LaunchError("no launch_server binary (looked in: " + ", ".join(filter(None, candidates)) +
                      "); add //tests/harness:python_launcher to the data, or bazel build "
                      "//tests/harness:launch_server")


class Server:
    def __init__(self, *flags, data_dir=None, log=None, env=None, server=None, binary=None,
                 start_timeout=30, stop_grace=10):
        self.flags = list(flags)
        self._data_dir, self._log = data_dir, log
        self.env, self.server, self.binary = env, server, binary
        self.start_timeout, self.stop_grace = start_timeout, stop_grace
        self.process = None
        self._stderr = None
        self.returncode = None
        self.grpc_port = self.metrics_port = self.pid = None
        self.address = self.log_path = self.data_dir = self.port_file = None

    def start(self):
        argv = [self.binary or launch_server_path(),
                f"--start_timeout_seconds={int(self.start_timeout)}",
                f"--stop_grace_seconds={int(self.stop_grace)}"]
        if self.server:
            argv.append(f"--server={self.server}")
        if self._data_dir:
            argv.append(f"--data_dir={self._data_dir}")
        if self._log:
            argv.append(f"--log={self._log}")
        argv += ["--"] + self.flags
        # The launcher writes to stderr only when something fails: keep it for the exception.
        self._stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self._stderr, env=self.env)
        line = self.process.stdout.readline()  # bounded: the launcher gives up at start_timeout
        if not line:
            self.returncode = self.process.wait()
            self.process.stdin.close()
            self.process.stdout.close()
            raise LaunchError(f"the server did not start (launch_server exited "
                              f"{self.returncode}): {self.launcher_messages()}")
        ready = json.loads(line)
        self.grpc_port, self.metrics_port = ready["grpc_port"], ready["metrics_port"]
        self.pid, self.address = ready["pid"], ready["address"]
        self.log_path, self.data_dir = ready["log"], ready["data_dir"]
        self.port_file = ready["port_file"]
        return self

    def running(self):
        return self.process is not None and self.process.poll() is None

    def stop(self):
        if self.process is None:
            return None
        if self.returncode is None:
            try:
                self.process.stdin.close()  # EOF: the launcher stops the server
            except OSError:
                pass
            try:
                self.returncode = self.process.wait(timeout=self.stop_grace + 10)
            except subprocess.TimeoutExpired:  # the launcher itself is stuck: the kernel
                self.process.kill()            # kills the server with it (PDEATHSIG)
                self.returncode = self.process.wait()
            self.process.stdout.close()
        return self.returncode

    def launcher_messages(self):
        """What the launcher wrote on stderr so far."""
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace").strip()

    def metrics(self, timeout=5):
        """The /metrics text now."""
        import urllib.request
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.read().decode()

    def log_text(self):
        """Everything the server wrote (stdout and stderr) so far."""
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def __enter__(self):
        return self.start()

    def __exit__(self, *_):
        self.stop()
        return False
