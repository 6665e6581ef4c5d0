#include "engine/pack_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "base/child_environment.h"
#include "engine/internal/fields.h"

namespace isopool::engine {

std::string EncodePackRequest(absl::string_view source, const PackOptions& options,
                              uint64_t hash_seed) {
  std::map<std::string, std::string> fields = PackOptionsToFields(options);
  fields["source"] = std::string(source);
  fields["hash_seed"] = absl::StrCat(hash_seed);
  return internal::EncodeFields(fields);
}

absl::Status DecodePackRequest(absl::string_view bytes, std::string* source, PackOptions* options,
                               uint64_t* hash_seed) {
  absl::StatusOr<std::map<std::string, std::string>> fields = internal::DecodeFields(bytes);
  if (!fields.ok()) return fields.status();
  *source = (*fields)["source"];
  fields->erase("source");
  if (!absl::SimpleAtoi((*fields)["hash_seed"], hash_seed)) {
    return absl::InvalidArgumentError("bad hash_seed in pack request");
  }
  fields->erase("hash_seed");
  absl::StatusOr<PackOptions> parsed = ParsePackOptions(*fields);
  if (!parsed.ok()) return parsed.status();
  *options = *std::move(parsed);
  return absl::OkStatus();
}

absl::StatusOr<std::string> PackInChildProcess(const PackProcessOptions& process,
                                               absl::string_view source,
                                               const PackOptions& options) {
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  if (pipe2(out, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  if (pipe2(err, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  std::vector<std::string> args = {
      process.binary, absl::StrCat("--v8_flags=", absl::StrJoin(process.v8_flags, " ")),
      absl::StrCat("--heap_mib=", options.build_heap_mib),
      absl::StrCat("--cpu_seconds=", options.build_timeout_ms / 1000 + 2)};
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid;
  base::ChildEnvironment environment;  // the child learns nothing from the server's
  int spawned =
      posix_spawn(&pid, process.binary.c_str(), &actions, nullptr, argv.data(), environment.envp());
  posix_spawn_file_actions_destroy(&actions);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  auto close_ours = absl::MakeCleanup([&] {
    if (in[1] >= 0) close(in[1]);
    close(out[0]);
    close(err[0]);
  });
  if (spawned != 0) {
    return absl::InternalError(
        absl::StrCat("cannot start ", process.binary, ": ", strerror(spawned)));
  }

  std::string request = EncodePackRequest(source, options, process.hash_seed);
  size_t written = 0;
  std::string stdout_bytes, stderr_bytes;
  // The child's own timeout fires first; this one catches a child that hangs outside V8.
  absl::Time deadline =
      absl::Now() + absl::Milliseconds(options.build_timeout_ms) + absl::Seconds(5);
  bool out_open = true, err_open = true, timed_out = false, too_much = false;
  constexpr size_t kMaxStderrBytes = 64 << 10;
  fcntl(in[1], F_SETFL, O_NONBLOCK);
  while (out_open || err_open) {
    pollfd fds[3];
    int n = 0;
    if (out_open) fds[n++] = {out[0], POLLIN, 0};
    if (err_open) fds[n++] = {err[0], POLLIN, 0};
    if (in[1] >= 0) fds[n++] = {in[1], POLLOUT, 0};
    int64_t wait_ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (wait_ms <= 0) {
      timed_out = true;
      break;
    }
    if (poll(fds, n, static_cast<int>(wait_ms)) < 0 && errno != EINTR) break;
    for (int i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      if (fds[i].fd == in[1]) {
        ssize_t w = write(in[1], request.data() + written, request.size() - written);
        if (w > 0) written += w;
        if (w < 0 && errno != EAGAIN) written = request.size();
        if (written == request.size()) {
          close(in[1]);
          in[1] = -1;
        }
        continue;
      }
      char buffer[65536];
      ssize_t r = read(fds[i].fd, buffer, sizeof(buffer));
      std::string& sink = fds[i].fd == out[0] ? stdout_bytes : stderr_bytes;
      if (r > 0) {
        size_t cap = fds[i].fd == out[0] ? process.max_output_bytes : kMaxStderrBytes;
        if (sink.size() + static_cast<size_t>(r) > cap) {
          if (fds[i].fd == out[0]) too_much = true;
          sink.append(buffer, std::min(static_cast<size_t>(r), cap - sink.size()));
        } else {
          sink.append(buffer, r);
        }
      } else if (r == 0 || errno != EINTR) {
        (fds[i].fd == out[0] ? out_open : err_open) = false;
      }
    }
    if (too_much) break;
  }
  if (timed_out || too_much) kill(pid, SIGKILL);
  int wstatus = 0;
  while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
  }
  if (too_much) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the pack process wrote more than ", process.max_output_bytes, " bytes; it was stopped"));
  }
  if (timed_out) {
    return absl::ResourceExhaustedError(
        absl::StrCat("packing ran past the build time limit of ", options.build_timeout_ms, " ms"));
  }
  if (WIFSIGNALED(wstatus)) {
    int sig = WTERMSIG(wstatus);
    if (sig == SIGXCPU || sig == SIGKILL) {
      return absl::ResourceExhaustedError(
          absl::StrCat("packing exceeded its CPU or memory limit (signal ", sig, ")"));
    }
    return absl::InternalError(absl::StrCat("the pack process crashed (signal ", sig,
                                            "): ", stderr_bytes.substr(0, 2000)));
  }
  int code = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
  if (code == kPackExitOk) return stdout_bytes;
  if (code == kPackExitInvalidBundle) return absl::InvalidArgumentError(stderr_bytes);
  return absl::InternalError(
      absl::StrCat("the pack process failed (exit ", code, "): ", stderr_bytes.substr(0, 2000)));
}

}  // namespace isopool::engine
