// WritePortFile: what launchers read instead of the server's log (service/port_file.h).
#include "service/port_file.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace isopool::service {
namespace {

std::string NewDir(const std::string& name) {
  std::string dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name);
  mkdir(dir.c_str(), 0755);
  return dir;
}

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  while (dirent* entry = readdir(d)) {
    std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  closedir(d);
  return names;
}

TEST(PortFileTest, HoldsBothPortsAndThePidOnOneLine) {
  std::string dir = NewDir("one-line");
  ASSERT_TRUE(WritePortFile(dir + "/ports.json", 41234, 41235).ok());
  EXPECT_EQ(Read(dir + "/ports.json"),
            absl::StrCat("{\"grpc_port\":41234,\"metrics_port\":41235,\"pid\":", getpid(), "}\n"));
  // Written through a temp file that was renamed: nothing else is left in the directory.
  EXPECT_EQ(Entries(dir), std::vector<std::string>{"ports.json"});
}

TEST(PortFileTest, ReplacesAStaleFile) {
  std::string dir = NewDir("stale");
  std::ofstream(dir + "/ports.json") << "{\"grpc_port\":1,\"metrics_port\":2,\"pid\":3}\n";
  ASSERT_TRUE(WritePortFile(dir + "/ports.json", 5, 0).ok());
  EXPECT_EQ(Read(dir + "/ports.json"),
            absl::StrCat("{\"grpc_port\":5,\"metrics_port\":0,\"pid\":", getpid(), "}\n"));
}

TEST(PortFileTest, AMissingDirectoryIsAnErrorThatNamesIt) {
  std::string path = NewDir("missing") + "/no/such/dir/ports.json";
  absl::Status status = WritePortFile(path, 1, 2);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << status;
  EXPECT_NE(status.message().find("no/such/dir"), std::string::npos) << status;
}

TEST(PortFileTest, APathThatEndsInASlashIsRefused) {
  absl::Status status = WritePortFile(NewDir("slash") + "/", 1, 2);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
}

}  // namespace
}  // namespace isopool::service
