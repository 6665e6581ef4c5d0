// LoadServerConfig: flags, ISOPOOL_* environment variables, and which one wins.
#include "service/config.h"

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/flags/parse.h"
#include "gtest/gtest.h"

namespace isopool::service {
namespace {

// One test: absl parses a process's command line once.
TEST(ConfigTest, CommandLineWinsOverTheEnvironmentEvenWithTheDefaultValue) {
  setenv("ISOPOOL_LISTEN", "127.0.0.1:1", 1);
  setenv("ISOPOOL_MAX_ISOLATES", "7", 1);
  // --listen is given with its default value: still given, so the environment must not win.
  std::vector<std::string> args = {"config_test", "--listen=127.0.0.1:50051"};
  std::vector<char*> argv;
  argv.reserve(args.size());
  for (std::string& arg : args) argv.push_back(arg.data());
  absl::ParseCommandLine(static_cast<int>(argv.size()), argv.data());

  absl::StatusOr<ServerConfig> config = LoadServerConfig();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen, "127.0.0.1:50051");
  EXPECT_EQ(config->global.max_isolates, 7);  // not on the command line: the environment's
}

}  // namespace
}  // namespace isopool::service
