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
  // The build settings (spec.h) follow the same rules.
  setenv("ISOPOOL_MAX_BUILD_HEAP_MIB", "5", 1);
  setenv("ISOPOOL_V8_FLAGS", "--no-opt --stack-size=500", 1);
  setenv("ISOPOOL_MAX_ISOLATES_PER_SNAPSHOT", "9", 1);
  setenv("ISOPOOL_PORT_FILE", "/run/isopool/ports.json", 1);
  // --listen and --max_build_heap_mib are given with their default values: still given, so the
  // environment must not win.
  std::vector<std::string> args = {"config_test", "--listen=127.0.0.1:50051",
                                   "--max_build_heap_mib=1024", "--default_build_heap_mib=77"};
  std::vector<char*> argv;
  argv.reserve(args.size());
  for (std::string& arg : args) argv.push_back(arg.data());
  absl::ParseCommandLine(static_cast<int>(argv.size()), argv.data());

  absl::StatusOr<ServerConfig> config = LoadServerConfig();
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->listen, "127.0.0.1:50051");
  EXPECT_EQ(config->global.max_isolates, 7);  // not on the command line: the environment's
  EXPECT_EQ(config->build.max_build_heap_mib, 1024u);
  EXPECT_EQ(config->build.default_build_heap_mib, 77u);
  EXPECT_EQ(config->build.max_isolates_per_snapshot, 9);
  EXPECT_EQ(config->build.v8_flags, (std::vector<std::string>{"--no-opt", "--stack-size=500"}));
  EXPECT_EQ(config->build.default_build_timeout_ms, BuildSettings().default_build_timeout_ms);
  EXPECT_EQ(config->port_file, "/run/isopool/ports.json");
}

}  // namespace
}  // namespace isopool::service
