// isopool_server: the isopool gRPC service. See README.md for flags; every flag also reads
// ISOPOOL_<FLAG> from the environment.
#include <signal.h>

#include <cstdlib>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "service/config.h"
#include "service/log.h"
#include "service/server.h"

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "isopool_server: runs JavaScript for other services in pooled V8 isolates.\n"
      "Flags can also be set as ISOPOOL_<FLAG_NAME> environment variables.");
  absl::ParseCommandLine(argc, argv);
  // Wait for SIGTERM/SIGINT on this thread; every other thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<isopool::service::ServerConfig> config = isopool::service::LoadServerConfig();
  if (!config.ok()) {
    isopool::service::Log(isopool::service::LogLevel::kError, "bad_config",
                          {{"error", config.status().message()}});
    return 2;
  }
  auto server = isopool::service::Server::Start(*config, argv[0]);
  if (!server.ok()) {
    isopool::service::Log(isopool::service::LogLevel::kError, "start_failed",
                          {{"error", server.status().ToString()}});
    return 1;
  }
  int signal_number = 0;
  sigwait(&signals, &signal_number);
  isopool::service::Log(isopool::service::LogLevel::kInfo, "signal",
                        {{"signal", signal_number == SIGTERM ? "SIGTERM" : "SIGINT"}});
  if (!(*server)->Drain()) {
    // Calls still running past the grace are abandoned, not waited for: exit now, still 0
    // (the drain itself worked), without running destructors that would join their threads.
    std::_Exit(0);
  }
  server->reset();
  return 0;
}
