// MessageSocket: whole messages inline and through memfds, many receivers on one socket, the
// peer's end, and malformed input from a peer that does not follow the protocol.
#include "worker/channel.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace isopool::worker {
namespace {

TEST(ChannelTest, SmallAndLargeMessagesArriveWhole) {
  absl::StatusOr<SocketPair> pair = MessageSocket::Pair();
  ASSERT_TRUE(pair.ok());
  MessageSocket peer(pair->peer_fd);
  std::string small = "hello";
  std::string exactly_inline(MessageSocket::kInlineBytes, 'i');
  std::string large(5 << 20, '\0');
  for (size_t i = 0; i < large.size(); ++i) large[i] = static_cast<char>(i * 31);
  for (const std::string* message : {&small, &exactly_inline, &large}) {
    std::thread sender([&] { ASSERT_TRUE(pair->socket->Send(*message).ok()); });
    absl::StatusOr<std::string> received = peer.Receive();
    sender.join();
    ASSERT_TRUE(received.ok()) << received.status();
    EXPECT_EQ(received->size(), message->size());
    EXPECT_TRUE(*received == *message);
  }
}

TEST(ChannelTest, EachMessageGoesToExactlyOneOfManyReceivers) {
  absl::StatusOr<SocketPair> pair = MessageSocket::Pair();
  ASSERT_TRUE(pair.ok());
  MessageSocket peer(pair->peer_fd);
  constexpr int kMessages = 400;
  std::mutex mu;
  std::multiset<std::string> seen;
  std::vector<std::thread> receivers;
  for (int r = 0; r < 4; ++r) {
    receivers.emplace_back([&] {
      for (;;) {
        absl::StatusOr<std::string> m = peer.Receive();
        if (!m.ok()) return;
        std::lock_guard<std::mutex> lock(mu);
        seen.insert(*m);
      }
    });
  }
  std::vector<std::thread> senders;
  for (int s = 0; s < 4; ++s) {
    senders.emplace_back([&, s] {
      for (int i = 0; i < kMessages / 4; ++i) {
        // Every tenth message is large enough to travel in a memfd.
        std::string body = absl::StrCat(s, "-", i);
        if (i % 10 == 0) body += std::string(MessageSocket::kInlineBytes, 'x');
        ASSERT_TRUE(pair->socket->Send(body).ok());
      }
    });
  }
  for (std::thread& t : senders) t.join();
  pair->socket.reset();  // the peer sees the end once everything is read
  for (std::thread& t : receivers) t.join();
  EXPECT_EQ(seen.size(), static_cast<size_t>(kMessages));
  std::set<std::string> distinct(seen.begin(), seen.end());
  EXPECT_EQ(distinct.size(), static_cast<size_t>(kMessages));
}

TEST(ChannelTest, ThePeersEndIsUnavailable) {
  absl::StatusOr<SocketPair> pair = MessageSocket::Pair();
  ASSERT_TRUE(pair.ok());
  close(pair->peer_fd);
  EXPECT_EQ(pair->socket->Receive().status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(pair->socket->Send("x").code(), absl::StatusCode::kUnavailable);
}

TEST(ChannelTest, ShutdownWakesABlockedReceiver) {
  absl::StatusOr<SocketPair> pair = MessageSocket::Pair();
  ASSERT_TRUE(pair.ok());
  MessageSocket peer(pair->peer_fd);
  std::thread receiver(
      [&] { EXPECT_EQ(pair->socket->Receive().status().code(), absl::StatusCode::kUnavailable); });
  pair->socket->Shutdown();
  receiver.join();
}

TEST(ChannelTest, MalformedMessagesAreDataLossNotCrashes) {
  absl::StatusOr<SocketPair> pair = MessageSocket::Pair();
  ASSERT_TRUE(pair.ok());
  int raw = pair->peer_fd;
  // A memfd header without a descriptor, and an unknown kind byte.
  char header[9] = {'F', 0, 0, 0, 0, 0, 0, 0, 0};
  ASSERT_EQ(send(raw, header, sizeof(header), 0), 9);
  EXPECT_EQ(pair->socket->Receive().status().code(), absl::StatusCode::kDataLoss);
  ASSERT_EQ(send(raw, "Zjunk", 5, 0), 5);
  EXPECT_EQ(pair->socket->Receive().status().code(), absl::StatusCode::kDataLoss);
  // The channel still works afterwards.
  ASSERT_EQ(send(raw, "Iok", 3, 0), 3);
  absl::StatusOr<std::string> ok = pair->socket->Receive();
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, "ok");
  close(raw);
}

}  // namespace
}  // namespace isopool::worker
