// NetworkLink: the relay carries bytes both ways, cut() kills live connections and refuses new
// ones, restore() lets them through again. Against a small echo server on loopback.
#include "reclothes/simulator/network_link.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace reclothes::simulator {
namespace {

// Echoes whatever each client sends, one thread per connection.
class EchoServer {
 public:
  EchoServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(::listen(fd_, 16), 0);
    socklen_t len = sizeof(addr);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      for (;;) {
        const int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        workers_.emplace_back([c] {
          char buf[4096];
          for (;;) {
            const ssize_t n = ::recv(c, buf, sizeof(buf), 0);
            if (n <= 0) break;
            ::send(c, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL);
          }
          ::close(c);
        });
      }
    });
  }
  ~EchoServer() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
    for (std::thread& t : workers_) t.join();
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::vector<std::thread> workers_;
};

int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Reads up to `n` bytes within 2 s; "" on EOF, error or timeout.
std::string read_some(int fd, std::size_t n) {
  std::string out;
  while (out.size() < n) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 2000) <= 0) break;
    char buf[4096];
    const ssize_t got = ::recv(fd, buf, std::min(sizeof(buf), n - out.size()), 0);
    if (got <= 0) break;
    out.append(buf, static_cast<std::size_t>(got));
  }
  return out;
}

TEST(NetworkLinkTest, RelaysBothWays) {
  EchoServer echo;
  auto link = NetworkLink::create("127.0.0.1", echo.port());
  ASSERT_TRUE(link.ok()) << link.error().to_string();
  const int fd = connect_to((*link)->port());
  ASSERT_GE(fd, 0);
  const std::string big(200'000, 'x');  // more than one buffer's worth
  std::thread writer([&] { ::send(fd, big.data(), big.size(), MSG_NOSIGNAL); });
  EXPECT_EQ(read_some(fd, big.size()), big);
  writer.join();
  EXPECT_EQ((*link)->connections(), 1u);
  ::close(fd);
}

TEST(NetworkLinkTest, CutDropsLiveConnectionsAndRefusesNewOnesUntilRestored) {
  EchoServer echo;
  auto link = NetworkLink::create("127.0.0.1", echo.port());
  ASSERT_TRUE(link.ok());
  const int fd = connect_to((*link)->port());
  ASSERT_GE(fd, 0);
  ::send(fd, "ping", 4, MSG_NOSIGNAL);
  ASSERT_EQ(read_some(fd, 4), "ping");

  (*link)->cut();
  EXPECT_FALSE((*link)->up());
  EXPECT_EQ(read_some(fd, 1), "");  // the relay closed it: EOF
  ::close(fd);
  const int refused = connect_to((*link)->port());
  ASSERT_GE(refused, 0);  // the kernel accepts; the relay closes at once
  ::send(refused, "x", 1, MSG_NOSIGNAL);
  EXPECT_EQ(read_some(refused, 1), "");
  ::close(refused);

  (*link)->restore();
  const int again = connect_to((*link)->port());
  ASSERT_GE(again, 0);
  ::send(again, "pong", 4, MSG_NOSIGNAL);
  EXPECT_EQ(read_some(again, 4), "pong");
  ::close(again);
}

TEST(NetworkLinkTest, ADeadUpstreamClosesTheClient) {
  // Port 1 on loopback: nobody listens.
  auto link = NetworkLink::create("127.0.0.1", 1);
  ASSERT_TRUE(link.ok());
  const int fd = connect_to((*link)->port());
  ASSERT_GE(fd, 0);
  EXPECT_EQ(read_some(fd, 1), "");
  ::close(fd);
}

TEST(NetworkLinkTest, BrokerUrisAreParsedOrRefused) {
  auto a = parse_broker_uri("tcp://10.0.0.5:1884");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->scheme, "tcp");
  EXPECT_EQ(a->host, "10.0.0.5");
  EXPECT_EQ(a->port, 1884);
  EXPECT_EQ(parse_broker_uri("ssl://broker.example").value().port, 8883);
  EXPECT_EQ(parse_broker_uri("mqtt://h").value().port, 1883);
  EXPECT_FALSE(parse_broker_uri("broker:1883").ok());
  EXPECT_FALSE(parse_broker_uri("http://h:80").ok());
  EXPECT_FALSE(parse_broker_uri("tcp://h:99999").ok());
  EXPECT_FALSE(parse_broker_uri("tcp://h:12ab").ok());
}

}  // namespace
}  // namespace reclothes::simulator
