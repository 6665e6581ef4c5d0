// The real crash test: a child process (crash_writer) runs a deterministic sequence of store
// operations and is SIGKILLed at random moments, round after round, each round continuing
// the sequence on the same data directory. After every kill the store is reopened and must:
//   - open (the names index parses),
//   - hold exactly the names the acknowledged operations produced, or that plus the one
//     operation in flight when the kill came (old or new, never anything else),
//   - serve every snapshot file present on disk with verified bytes,
//   - have quarantined nothing and left no temp files behind.
// Note: SIGKILL loses no page cache, so this proves atomicity and recovery, not fsync
// ordering against power loss (that rests on the temp/fsync/rename/fsync recipe).

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "store/fs_snapshot_store.h"
#include "tests/store/crash_ops.h"
#include "tests/store/test_util.h"

extern char** environ;

namespace isopool::store {
namespace {

using ::isopool::store::testing::CheckEnvelope;
using ::isopool::store::testing::CrashOpAt;
using ::isopool::store::testing::FilesIn;
using ::isopool::store::testing::FreshDataDir;
using ::isopool::store::testing::NameModel;
using ::isopool::store::testing::RecordingObserver;

constexpr int kRounds = 40;

std::string WriterPath() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  if (srcdir == nullptr || workspace == nullptr) return "tests/store/crash_writer";
  return absl::StrCat(srcdir, "/", workspace, "/tests/store/crash_writer");
}

// Starts the writer, lets it run for `run_for`, SIGKILLs it, returns the acked op indices.
std::vector<uint64_t> RunAndKill(const std::string& dir, uint64_t first_op,
                                 std::chrono::milliseconds run_for) {
  int fds[2];
  EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  std::string path = WriterPath();
  std::string first = absl::StrCat(first_op);
  char* argv[] = {path.data(), const_cast<char*>(dir.c_str()), first.data(), nullptr};
  pid_t pid = 0;
  int rc = posix_spawn(&pid, path.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  EXPECT_EQ(rc, 0) << "spawn " << path;
  if (rc != 0) return {};

  std::this_thread::sleep_for(run_for);
  ::kill(pid, SIGKILL);
  int wstatus = 0;
  EXPECT_EQ(::waitpid(pid, &wstatus, 0), pid);
  // Killed by us, not exited on its own (which would mean a store error; see its stderr).
  EXPECT_TRUE(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL)
      << "writer exited early with status " << wstatus;

  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  std::vector<uint64_t> acked;
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    uint64_t op = 0;
    EXPECT_TRUE(absl::ConsumePrefix(&line, "ack ") && absl::SimpleAtoi(line, &op)) << line;
    acked.push_back(op);
  }
  return acked;
}

NameModel ListAll(SnapshotStore& store) {
  NameModel names;
  std::string token;
  do {
    auto page = store.List(4, token);
    EXPECT_TRUE(page.ok()) << page.status();
    if (!page.ok()) break;
    for (const ListEntry& e : page->entries) names[e.name] = e.id;
    token = page->next_page_token;
  } while (!token.empty());
  return names;
}

TEST(CrashTest, KillNineAtRandomMomentsNeverLeavesABrokenStore) {
  const std::string dir = FreshDataDir("crash");
  std::mt19937 rng(std::random_device{}());
  uint64_t applied = 0;  // ops 0..applied-1 are reflected in the store
  NameModel model;
  uint64_t total_acked = 0;
  int in_flight_landed = 0;
  RecordingObserver observer;

  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(absl::StrCat("round ", round, ", first op ", applied));
    // Mostly mid-run kills; every fourth round a very early one, to hit Open's recovery.
    int ms = round % 4 == 3 ? std::uniform_int_distribution<int>(0, 15)(rng)
                            : std::uniform_int_distribution<int>(20, 200)(rng);
    std::vector<uint64_t> acked = RunAndKill(dir, applied, std::chrono::milliseconds(ms));
    for (size_t i = 0; i < acked.size(); ++i) ASSERT_EQ(acked[i], applied + i);
    total_acked += acked.size();

    NameModel old_state = model;
    for (uint64_t op = applied; op < applied + acked.size(); ++op) {
      testing::ApplyToModel(CrashOpAt(op), &old_state);
    }
    const uint64_t in_flight = applied + acked.size();
    NameModel new_state = old_state;
    testing::ApplyToModel(CrashOpAt(in_flight), &new_state);

    FilesystemSnapshotStoreOptions options;
    options.validator = CheckEnvelope;
    options.observer = &observer;
    auto store = FilesystemSnapshotStore::Open(dir, options);
    ASSERT_TRUE(store.ok()) << store.status();

    NameModel state = ListAll(**store);
    if (state == old_state) {
      model = old_state;
      applied = in_flight;
    } else {
      ASSERT_EQ(state, new_state) << "names are neither the acknowledged state nor that plus "
                                     "the in-flight op "
                                  << in_flight;
      model = new_state;
      applied = in_flight + 1;
      ++in_flight_landed;
    }

    // Every snapshot on disk, named or not, reads back verified.
    int metas = 0;
    for (const std::string& file : FilesIn(dir + "/snapshots")) {
      ASSERT_FALSE(absl::StartsWith(file, ".tmp-")) << file;
      if (!absl::EndsWith(file, ".meta")) continue;
      ++metas;
      std::string id = "sha256:" + file.substr(0, 64);
      auto bytes = (*store)->ReadEnvelope(id);
      ASSERT_TRUE(bytes.ok()) << id << ": " << bytes.status();
      auto meta = (*store)->Get(id);
      ASSERT_TRUE(meta.ok());
      EXPECT_EQ(meta->blob_bytes, bytes->size());
    }
    for (const std::string& file : FilesIn(dir)) {
      ASSERT_FALSE(absl::StartsWith(file, ".tmp-")) << file;
    }
    EXPECT_EQ((*store)->Stats().snapshot_count, static_cast<uint64_t>(metas));
    EXPECT_EQ((*store)->Stats().quarantined_count, 0u);
    ASSERT_TRUE(observer.events().empty()) << observer.events()[0].second;

    // Keep the directory small: delete the snapshots no name points at (moved-away tags,
    // Puts whose SetName was cut off). Names are untouched, so the model still holds.
    std::set<std::string> named;
    for (const auto& entry : state) named.insert(entry.second);
    for (const std::string& file : FilesIn(dir + "/snapshots")) {
      std::string id = "sha256:" + file.substr(0, 64);
      if (!absl::EndsWith(file, ".meta") || named.count(id)) continue;
      auto deleted = (*store)->Delete(id);
      ASSERT_TRUE(deleted.ok()) << deleted.status();
      EXPECT_EQ(deleted->removed_id, id);
      EXPECT_TRUE(deleted->names_removed.empty());
    }
  }
  // The test is only meaningful if the writer got real work done between kills.
  EXPECT_GE(total_acked, 20u) << "writer made too little progress";
  std::printf("crash test: %d rounds, %llu ops acknowledged, in-flight op landed %d times\n",
              kRounds, static_cast<unsigned long long>(total_acked), in_flight_landed);

  // Finally a full verification pass: hash and validate everything at open.
  FilesystemSnapshotStoreOptions options;
  options.validator = CheckEnvelope;
  options.verify_on_open = true;
  auto store = FilesystemSnapshotStore::Open(dir, options);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->recovery().quarantined, 0u);
  EXPECT_EQ(ListAll(**store), model);
}

}  // namespace
}  // namespace isopool::store
