#include "store/atomic_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "absl/random/random.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace isopool::store {
namespace {

constexpr absl::string_view kTempPrefix = ".tmp-";

std::string TempName() {
  static std::atomic<uint64_t> counter{0};
  thread_local absl::BitGen gen;
  return absl::StrCat(kTempPrefix, getpid(), "-", counter.fetch_add(1), "-",
                      absl::Uniform<uint64_t>(gen));
}

// Retries on EINTR; a short write just continues.
absl::Status WriteAll(int fd, absl::string_view data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "write", path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

std::string Parent(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

absl::Status ErrnoStatus(int error_number, absl::string_view op, absl::string_view path) {
  return absl::ErrnoToStatus(error_number, absl::StrCat(op, " ", path));
}

bool IsTempFileName(absl::string_view file_name) {
  return absl::StartsWith(file_name, kTempPrefix);
}

absl::StatusOr<std::string> WriteTempFile(const std::string& dir, absl::string_view contents) {
  std::string path = absl::StrCat(dir, "/", TempName());
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(errno, "open", path);
  absl::Status status = WriteAll(fd, contents, path);
  if (status.ok() && ::fsync(fd) != 0) status = ErrnoStatus(errno, "fsync", path);
  if (::close(fd) != 0 && status.ok()) status = ErrnoStatus(errno, "close", path);
  if (!status.ok()) {
    ::unlink(path.c_str());
    return status;
  }
  return path;
}

absl::Status RenameDurably(const std::string& from, const std::string& to,
                           const std::string& to_dir) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return ErrnoStatus(errno, "rename", absl::StrCat(from, " -> ", to));
  }
  return SyncDir(to_dir);
}

absl::Status WriteFileAtomically(const std::string& dir, const std::string& name,
                                 absl::string_view contents) {
  absl::StatusOr<std::string> temp = WriteTempFile(dir, contents);
  if (!temp.ok()) return temp.status();
  absl::Status status = RenameDurably(*temp, absl::StrCat(dir, "/", name), dir);
  if (!status.ok()) ::unlink(temp->c_str());
  return status;
}

absl::Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open", dir);
  absl::Status status;
  if (::fsync(fd) != 0) status = ErrnoStatus(errno, "fsync", dir);
  ::close(fd);
  return status;
}

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "open", path);
  std::string out;
  struct stat st;
  if (::fstat(fd, &st) == 0 && st.st_size > 0) out.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return ErrnoStatus(err, "read", path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

absl::Status RemoveFile(const std::string& path) {
  if (::unlink(path.c_str()) != 0) return ErrnoStatus(errno, "unlink", path);
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> FileSize(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus(errno, "stat", path);
  return static_cast<uint64_t>(st.st_size);
}

absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return ErrnoStatus(errno, "opendir", dir);
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* e = ::readdir(d)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
      names.emplace_back(e->d_name);
    }
    errno = 0;
  }
  int err = errno;
  ::closedir(d);
  if (err != 0) return ErrnoStatus(err, "readdir", dir);
  return names;
}

absl::Status MakeDirs(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat(dir, " exists and is not a directory"));
  }
  std::string parent = Parent(dir);
  if (parent != dir) {
    absl::Status status = MakeDirs(parent);
    if (!status.ok()) return status;
  }
  if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return ErrnoStatus(errno, "mkdir", dir);
  return SyncDir(parent);
}

}  // namespace isopool::store
