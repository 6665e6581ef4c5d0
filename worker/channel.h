// channel.h: one end of a message socket between the supervisor and a worker process.
//
//   absl::StatusOr<SocketPair> pair = MessageSocket::Pair();
//   // give pair->peer_fd to the child, keep pair->socket
//   pair->socket->Send(bytes);                          // any thread
//   absl::StatusOr<std::string> m = socket->Receive();  // blocks; Unavailable once the peer is
//   gone
//
// An AF_UNIX SOCK_SEQPACKET socket: every Send is one message, delivered whole to exactly one
// Receive, so several threads may send and several may receive at once without a lock (the
// worker's execute threads all receive calls from one socket). Messages larger than
// kInlineBytes travel in a sealed memfd passed with SCM_RIGHTS; no file system is involved, so a
// locked-down worker can still use it (memfd_create, no open).
//
// Ownership: the MessageSocket owns its descriptor. Thread-safety: Send and Receive may be called
// from any number of threads; Shutdown wakes every blocked Receive.
#ifndef ISOPOOL_WORKER_CHANNEL_H_
#define ISOPOOL_WORKER_CHANNEL_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace isopool::worker {

class MessageSocket;

struct SocketPair {
  std::unique_ptr<MessageSocket> socket;
  int peer_fd = -1;  // the other end, for the child process (close it after spawning)
};

class MessageSocket {
 public:
  // Messages up to this size are sent inline; larger ones in a memfd.
  static constexpr size_t kInlineBytes = 64 << 10;
  // Larger messages are refused on both ends.
  static constexpr size_t kMaxBytes = size_t{1} << 30;

  // A connected pair (close-on-exec on both ends).
  static absl::StatusOr<SocketPair> Pair();

  explicit MessageSocket(int fd) : fd_(fd) {}
  ~MessageSocket();
  MessageSocket(const MessageSocket&) = delete;
  MessageSocket& operator=(const MessageSocket&) = delete;

  // Sends one message. Unavailable when the peer is gone.
  absl::Status Send(absl::string_view payload);
  // The next message. Unavailable when the peer closed its end (or Shutdown was called);
  // DataLoss for a malformed message.
  absl::StatusOr<std::string> Receive();
  // Makes every blocked and future Receive return Unavailable.
  void Shutdown();

  int fd() const { return fd_; }

 private:
  const int fd_;
};

}  // namespace isopool::worker

#endif  // ISOPOOL_WORKER_CHANNEL_H_
