// launch_server: the real isopool_server for tests and benchmarks in any language, built on
// ServerProcess (server_process.h). tests/harness/launcher.py and launcher.sh wrap it.
//
//   launch_server [--server=PATH] [--data_dir=DIR] [--log=PATH] [--start_timeout_seconds=30]
//                 [--stop_grace_seconds=10] [-- SERVER_FLAGS...]
//
// Starts the server on port 0 and waits for its port file; once the server is ready, prints ONE
// JSON line on stdout:
//
//   {"grpc_port":N,"metrics_port":M,"pid":P,"address":"127.0.0.1:N","log":"...",
//    "data_dir":"...","port_file":"..."}
//
// then keeps running until its stdin reaches EOF, or it gets SIGTERM or SIGINT: it then stops the
// server (SIGTERM; SIGKILL after --stop_grace_seconds) and exits 0 if the server exited 0, else 1.
// Keep its stdin open (a pipe) for as long as the server should live: a test that dies closes it,
// so no server outlives its test, and the kernel kills the server if the launcher itself is
// SIGKILLed. If the server exits on its own, the launcher exits 1 with the end of the server's
// log on stderr. If the server does not become ready: nothing on stdout, the reason on stderr,
// exit 1.
//
// Without --server, the isopool_server beside this binary or in its runfiles. Without --data_dir,
// a new directory under $TEST_TMPDIR (else $TMPDIR, else /tmp); without
// --log, server.log in a new directory there. The server inherits the environment (ISOPOOL_*).
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "base/text_format.h"
#include "tests/harness/server_process.h"

ABSL_FLAG(std::string, server, "",
          "The isopool_server binary; default: beside this binary or in its runfiles");
ABSL_FLAG(std::string, data_dir, "", "The server's --data_dir; default: a new temp dir");
ABSL_FLAG(std::string, log, "", "Where the server's stdout and stderr go; default: a temp file");
ABSL_FLAG(int, start_timeout_seconds, 30, "How long the server may take to become ready");
ABSL_FLAG(int, stop_grace_seconds, 10, "After SIGTERM, how long before SIGKILL");

namespace isopool::testing {
namespace {

// What ends the launcher's wait.
enum class Ending { kStdinClosed, kSignal, kServerExited };

// Waits for EOF on stdin, a signal in `signals` (SIGTERM, SIGINT) or the server's exit
// (SIGCHLD), whichever comes first.
Ending WaitForTheEnd(ServerProcess& server, int signal_fd) {
  pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {signal_fd, POLLIN, 0}};
  for (;;) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return Ending::kStdinClosed;  // cannot wait any more: stop rather than leak
    }
    if (fds[0].revents != 0) {
      char buffer[512];
      ssize_t n = read(STDIN_FILENO, buffer, sizeof(buffer));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return Ending::kStdinClosed;  // input is read and ignored until EOF
    }
    if (fds[1].revents != 0) {
      signalfd_siginfo info;
      if (read(signal_fd, &info, sizeof(info)) != sizeof(info)) continue;
      if (info.ssi_signo != SIGCHLD) return Ending::kSignal;
      if (server.Exited()) return Ending::kServerExited;
    }
  }
}

int Main(const std::vector<std::string>& server_flags) {
  // Blocked before the server is forked (it resets its own mask), read through a signalfd.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGCHLD);
  sigprocmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a reader gone from stdout is an error, not a death
  int signal_fd = signalfd(-1, &signals, SFD_CLOEXEC);
  if (signal_fd < 0) {
    std::perror("launch_server: signalfd");
    return 1;
  }

  ServerProcess::Options options;
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  if (options.data_dir.empty()) options.data_dir = NewTempDir("data");
  options.log_path = absl::GetFlag(FLAGS_log);
  options.server_binary = absl::GetFlag(FLAGS_server);
  options.flags = server_flags;
  options.start_timeout = absl::Seconds(absl::GetFlag(FLAGS_start_timeout_seconds));
  absl::StatusOr<std::unique_ptr<ServerProcess>> server = ServerProcess::Launch(options);
  if (!server.ok()) {
    std::fprintf(stderr, "launch_server: %s\n", server.status().ToString().c_str());
    return 1;
  }
  ServerProcess& s = **server;
  std::string ready = absl::StrCat(
      "{\"grpc_port\":", s.port(), ",\"metrics_port\":", s.metrics_port(), ",\"pid\":", s.pid(),
      ",\"address\":", base::JsonQuote(s.address()), ",\"log\":", base::JsonQuote(s.log_path()),
      ",\"data_dir\":", base::JsonQuote(s.data_dir()),
      ",\"port_file\":", base::JsonQuote(s.port_file()), "}\n");
  bool announced = std::fputs(ready.c_str(), stdout) >= 0 && std::fflush(stdout) == 0;

  Ending ending = announced ? WaitForTheEnd(s, signal_fd) : Ending::kStdinClosed;
  if (ending == Ending::kServerExited) {
    std::fprintf(
        stderr, "launch_server: the server (pid %d) exited on its own (%s); its log %s ends:\n%s\n",
        s.pid(), DescribeExitStatus(s.Wait()).c_str(), s.log_path().c_str(), s.LogTail().c_str());
    return 1;
  }
  int status = s.Stop(absl::Seconds(absl::GetFlag(FLAGS_stop_grace_seconds)));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "launch_server: the server (pid %d) did not stop cleanly (%s)\n", s.pid(),
                 DescribeExitStatus(status).c_str());
    return 1;
  }
  return announced ? 0 : 1;
}

}  // namespace
}  // namespace isopool::testing

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "launch_server [--server=PATH] [--data_dir=DIR] [--log=PATH] [-- SERVER_FLAGS...]: starts "
      "isopool_server "
      "on port 0, prints one JSON line with its ports when it is ready, stops it at EOF on stdin");
  std::vector<char*> rest = absl::ParseCommandLine(argc, argv);
  std::vector<std::string> server_flags(rest.begin() + 1, rest.end());
  return isopool::testing::Main(server_flags);
}
