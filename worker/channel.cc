#include "worker/channel.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"

namespace isopool::worker {
namespace {

// The first byte of every message says how its payload travels.
constexpr char kInline = 'I';
constexpr char kMemfd = 'F';

absl::Status Errno(const char* what) {
  int error = errno;
  if (error == EPIPE || error == ECONNRESET || error == ENOTCONN) {
    return absl::UnavailableError(absl::StrCat(what, ": the peer is gone"));
  }
  return absl::InternalError(absl::StrCat(what, ": ", strerror(error)));
}

// One message: `head` then `body` (no copy), with `fd` attached when it is not -1.
absl::Status SendWithFd(int socket, absl::string_view head, absl::string_view body, int fd) {
  iovec iov[2] = {{const_cast<char*>(head.data()), head.size()},
                  {const_cast<char*>(body.data()), body.size()}};
  msghdr msg = {};
  msg.msg_iov = iov;
  msg.msg_iovlen = body.empty() ? 1 : 2;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  if (fd >= 0) {
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
  }
  for (;;) {
    if (sendmsg(socket, &msg, MSG_NOSIGNAL) >= 0) return absl::OkStatus();
    if (errno != EINTR) return Errno("sendmsg");
  }
}

}  // namespace

absl::StatusOr<SocketPair> MessageSocket::Pair() {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) return Errno("socketpair");
  SocketPair pair;
  pair.socket = std::make_unique<MessageSocket>(fds[0]);
  pair.peer_fd = fds[1];
  return pair;
}

MessageSocket::~MessageSocket() { close(fd_); }

void MessageSocket::Shutdown() { shutdown(fd_, SHUT_RDWR); }

absl::Status MessageSocket::Send(absl::string_view payload) {
  if (payload.size() > kMaxBytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("message of ", payload.size(), " bytes exceeds ", kMaxBytes));
  }
  if (payload.size() <= kInlineBytes) {
    return SendWithFd(fd_, absl::string_view(&kInline, 1), payload, -1);
  }
  int memfd = memfd_create("isopool-message", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (memfd < 0) return Errno("memfd_create");
  size_t written = 0;
  while (written < payload.size()) {
    ssize_t n = write(memfd, payload.data() + written, payload.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      absl::Status status = Errno("write to memfd");
      close(memfd);
      return status;
    }
    written += static_cast<size_t>(n);
  }
  // Sealed: the receiver reads exactly what was sent, whatever the sender does afterwards.
  fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
  char header[1 + sizeof(uint64_t)];
  header[0] = kMemfd;
  uint64_t size = payload.size();
  memcpy(header + 1, &size, sizeof(size));
  absl::Status status = SendWithFd(fd_, absl::string_view(header, sizeof(header)), {}, memfd);
  close(memfd);
  return status;
}

absl::StatusOr<std::string> MessageSocket::Receive() {
  // One buffer per thread, reused: zeroing 64 KiB for every message cost more than the message.
  thread_local std::unique_ptr<char[]> storage(new char[kInlineBytes + 1]);
  char* buffer = storage.get();
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  iovec iov = {buffer, kInlineBytes + 1};
  msghdr msg = {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  do {
    n = recvmsg(fd_, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return Errno("recvmsg");
  int fd = -1;
  for (cmsghdr* cmsg = CMSG_FIRSTHDR(&msg); cmsg != nullptr; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
    if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_RIGHTS) {
      memcpy(&fd, CMSG_DATA(cmsg), sizeof(int));
    }
  }
  if (n == 0) {
    if (fd >= 0) close(fd);
    return absl::UnavailableError("the peer closed the channel");
  }
  if ((msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
    if (fd >= 0) close(fd);
    return absl::DataLossError("truncated message on the worker channel");
  }
  if (buffer[0] == kInline && fd < 0) return std::string(buffer + 1, static_cast<size_t>(n) - 1);
  uint64_t size = 0;
  if (buffer[0] != kMemfd || fd < 0 || n != 1 + sizeof(uint64_t)) {
    if (fd >= 0) close(fd);
    return absl::DataLossError("malformed message on the worker channel");
  }
  memcpy(&size, buffer + 1, sizeof(size));
  struct stat info;
  if (size > kMaxBytes || fstat(fd, &info) != 0 || static_cast<uint64_t>(info.st_size) != size) {
    close(fd);
    return absl::DataLossError("memfd message of the wrong size on the worker channel");
  }
  std::string payload(size, '\0');
  size_t done = 0;
  while (done < size) {
    ssize_t r = pread(fd, payload.data() + done, size - done, static_cast<off_t>(done));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      close(fd);
      return absl::DataLossError("short read of a memfd message");
    }
    done += static_cast<size_t>(r);
  }
  close(fd);
  return payload;
}

}  // namespace isopool::worker
