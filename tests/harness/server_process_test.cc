// ServerProcess and launch_server: the server is ready when its port file says so, a server that
// cannot start fails the launch at once with its log, and no server outlives its launcher.
#include "tests/harness/server_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

extern char** environ;

namespace isopool::testing {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Alive and not a zombie (the server's zombie, reparented, may linger until init reaps it).
bool Running(pid_t pid) {
  std::string stat = ReadAll(absl::StrCat("/proc/", pid, "/stat"));
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

// Waits (bounded) until `pid` is no longer running.
bool Ends(pid_t pid, absl::Duration within = absl::Seconds(20)) {
  for (absl::Time give_up = absl::Now() + within; absl::Now() < give_up;) {
    if (!Running(pid)) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return false;
}

grpc::health::v1::HealthCheckResponse::ServingStatus Health(const std::string& address) {
  auto stub = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  if (!stub->Check(&context, request, &response).ok()) return response.UNKNOWN;
  return response.status();
}

TEST(ServerProcessTest, ReadyWhenThePortFileNamesBothListenersAndItsPid) {
  auto server = ServerProcess::Start(NewTempDir("ready"));
  ASSERT_TRUE(server.ok()) << server.status();
  std::string ports = ReadAll((*server)->port_file());
  EXPECT_EQ(ports, absl::StrCat("{\"grpc_port\":", (*server)->port(), ",\"metrics_port\":",
                                (*server)->metrics_port(), ",\"pid\":", (*server)->pid(), "}\n"));
  EXPECT_GT((*server)->port(), 0);
  EXPECT_GT((*server)->metrics_port(), 0);
  // Ready means ready: both listeners answer at once, no retry.
  EXPECT_EQ(Health((*server)->address()), grpc::health::v1::HealthCheckResponse::SERVING);
  absl::StatusOr<std::string> metrics = (*server)->Metrics();
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_NE(metrics->find("isopool_"), std::string::npos);
  EXPECT_NE((*server)->Stderr().find("\"event\":\"start\""), std::string::npos);
  // SIGTERM drains and exits 0.
  int status = (*server)->Stop();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << DescribeExitStatus(status);
}

TEST(ServerProcessTest, AServerThatCannotStartFailsTheLaunchAtOnceWithItsLog) {
  absl::Time start = absl::Now();
  auto server = ServerProcess::Start(NewTempDir("bad-flag"), {"--log_level=loud"});
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kFailedPrecondition) << server.status();
  EXPECT_NE(server.status().message().find("bad_config"), std::string::npos) << server.status();
  EXPECT_NE(server.status().message().find("exit code 2"), std::string::npos) << server.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(10)) << "waited for the timeout, not the exit";
}

// launch_server as a child of this test, stdin and stdout through pipes.
class Launcher {
 public:
  explicit Launcher(std::vector<std::string> flags) {
    std::vector<std::string> args = {Runfile("tests/harness/launch_server"), "--"};
    for (std::string& flag : flags) args.push_back(std::move(flag));
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    int in[2], out[2];
    EXPECT_EQ(pipe2(in, O_CLOEXEC), 0);
    EXPECT_EQ(pipe2(out, O_CLOEXEC), 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    EXPECT_EQ(posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ), 0) << argv[0];
    posix_spawn_file_actions_destroy(&actions);
    close(in[0]);
    close(out[1]);
    stdin_ = in[1];
    stdout_ = out[0];
  }
  ~Launcher() {
    CloseStdin();
    if (stdout_ >= 0) close(stdout_);
    if (!reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  // Its first line (the launcher gives up on a server after 30 s by itself).
  std::string ReadLine() {
    std::string line;
    char c;
    while (read(stdout_, &c, 1) == 1 && c != '\n') line += c;
    return line;
  }
  void CloseStdin() {
    if (stdin_ >= 0) close(stdin_);
    stdin_ = -1;
  }
  int Wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    reaped_ = true;
    return status;
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  bool reaped_ = false;
};

TEST(LaunchServerTest, PrintsOneReadyLineAndStopsTheServerAtEofOnStdin) {
  Launcher launcher({"--workers=1"});
  std::string ready = launcher.ReadLine();
  int port = JsonIntField(ready, "grpc_port");
  pid_t server = JsonIntField(ready, "pid");
  ASSERT_GT(port, 0) << ready;
  ASSERT_GT(JsonIntField(ready, "metrics_port"), 0) << ready;
  EXPECT_NE(ready.find(absl::StrCat("\"address\":\"127.0.0.1:", port, "\"")), std::string::npos);
  EXPECT_EQ(Health(absl::StrCat("127.0.0.1:", port)),
            grpc::health::v1::HealthCheckResponse::SERVING);
  absl::StatusOr<std::string> metrics = HttpGet(JsonIntField(ready, "metrics_port"), "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  // The flags after -- reached the server (its start line says so), its log is where it says.
  std::string log = ready.substr(ready.find("\"log\":\"") + 7);
  log = log.substr(0, log.find('"'));
  EXPECT_NE(ReadAll(log).find("\"workers\":1"), std::string::npos) << log;
  ASSERT_TRUE(Running(server));
  launcher.CloseStdin();
  int status = launcher.Wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << DescribeExitStatus(status);
  EXPECT_TRUE(Ends(server, absl::ZeroDuration()) || Ends(server)) << "the server outlived it";
}

TEST(LaunchServerTest, SigtermStopsTheServerToo) {
  Launcher launcher({});
  pid_t server = JsonIntField(launcher.ReadLine(), "pid");
  ASSERT_GT(server, 0);
  kill(launcher.pid(), SIGTERM);
  int status = launcher.Wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << DescribeExitStatus(status);
  EXPECT_TRUE(Ends(server));
}

TEST(LaunchServerTest, AKilledLauncherTakesItsServerWithIt) {
  Launcher launcher({});
  pid_t server = JsonIntField(launcher.ReadLine(), "pid");
  ASSERT_GT(server, 0);
  kill(launcher.pid(), SIGKILL);
  launcher.Wait();
  EXPECT_TRUE(Ends(server)) << "PR_SET_PDEATHSIG did not reach the server";
}

TEST(LaunchServerTest, AServerThatExitsOnItsOwnEndsTheLauncherWithAnError) {
  Launcher launcher({});
  pid_t server = JsonIntField(launcher.ReadLine(), "pid");
  ASSERT_GT(server, 0);
  kill(server, SIGKILL);
  int status = launcher.Wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << DescribeExitStatus(status);
}

TEST(LaunchServerTest, AServerThatCannotStartPrintsNothingAndExits1) {
  Launcher launcher({"--log_level=loud"});
  EXPECT_EQ(launcher.ReadLine(), "");
  int status = launcher.Wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << DescribeExitStatus(status);
}

}  // namespace
}  // namespace isopool::testing
