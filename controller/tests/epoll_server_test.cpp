// EpollHttpServer: httplib's request handling on connections we own. Raw sockets, so that the
// tests see exactly what goes over the wire (keep-alive, pipelining, half-sent requests).
#include "reclothes/controller/epoll_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace reclothes::controller {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class Socket {
 public:
  explicit Socket(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  Socket(Socket&& o) noexcept : fd_(o.fd_), connected_(o.connected_), buf_(std::move(o.buf_)) {
    o.fd_ = -1;
  }

  bool connected() const { return connected_; }
  int fd_for_test() const { return fd_; }
  void close() {
    ::close(fd_);
    fd_ = -1;
  }

  bool send(std::string_view data) {
    while (!data.empty()) {
      const auto n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  struct Reply {
    int status = 0;
    std::string head;
    std::string body;
  };
  // One response (Content-Length framed), or nullopt when none came within the timeout or the
  // server closed the connection first.
  std::optional<Reply> read_reply(std::chrono::milliseconds timeout = 5000ms) {
    const auto deadline = Clock::now() + timeout;
    std::size_t head_end;
    while ((head_end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill(deadline)) return std::nullopt;
    }
    Reply r;
    r.head = buf_.substr(0, head_end + 4);
    r.status = std::stoi(r.head.substr(9, 3));
    std::size_t length = 0;
    if (const auto p = r.head.find("Content-Length: "); p != std::string::npos) {
      length = std::stoul(r.head.substr(p + 16));
    }
    while (buf_.size() < head_end + 4 + length) {
      if (!fill(deadline)) return std::nullopt;
    }
    r.body = buf_.substr(head_end + 4, length);
    buf_.erase(0, head_end + 4 + length);
    return r;
  }

  // True when the server closed the connection within the timeout (and sent nothing more).
  bool closed_by_server(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      const auto before = buf_.size();
      if (!fill(deadline)) return eof_;
      if (buf_.size() == before) return false;
    }
  }

 private:
  bool fill(Clock::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char tmp[65536];
    const auto n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    buf_.append(tmp, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string buf_;
};

std::string get(const std::string& path) {
  return "GET " + path + " HTTP/1.1\r\nHost: test\r\n\r\n";
}

class EpollServerTest : public ::testing::Test {
 protected:
  void start(EpollHttpServer::Options o, std::size_t payload_limit = 1 << 20) {
    server_ = std::make_unique<EpollHttpServer>(o);
    server_->set_keep_alive_max_count(100000);
    server_->set_payload_max_length(payload_limit);
    server_->Get("/echo", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(req.get_param_value("i"), "text/plain");
    });
    server_->Get("/peer", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(req.remote_addr, "text/plain");
    });
    server_->Get("/slow", [](const httplib::Request&, httplib::Response& res) {
      std::this_thread::sleep_for(300ms);
      res.set_content("done", "text/plain");
    });
    const auto body_size = [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(std::to_string(req.body.size()), "text/plain");
    };
    server_->Post("/size", body_size);
    server_->Delete("/size", body_size);
    auto port = server_->bind_listener("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.error().message;
    port_ = *port;
    ASSERT_TRUE(server_->serve().ok());
  }
  void TearDown() override {
    if (server_) server_->shutdown();
  }

  // The body of the answer to one GET on a new connection; nullopt when none came.
  std::optional<std::string> body_of_get(const std::string& path) {
    Socket s(port_);
    if (!s.send(get(path))) return std::nullopt;
    auto r = s.read_reply();
    if (!r) return std::nullopt;
    return r->body;
  }

  std::unique_ptr<EpollHttpServer> server_;
  int port_ = 0;
};

TEST_F(EpollServerTest, ServesFarMoreKeepAliveConnectionsThanThreads) {
  start({.threads = 2});
  constexpr int kConnections = 300;
  std::vector<Socket> socks;
  for (int i = 0; i < kConnections; ++i) {
    socks.emplace_back(port_);
    ASSERT_TRUE(socks.back().connected());
  }
  // Every connection sends, then every one is answered: with one thread per connection, all but
  // two would wait for an idle connection to time out.
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < kConnections; ++i) {
      ASSERT_TRUE(socks[static_cast<std::size_t>(i)].send(
          get("/echo?i=" + std::to_string(round * 1000 + i))));
    }
    for (int k = 0; k < kConnections; ++k) {
      const int i = round == 0 ? k : kConnections - 1 - k;
      auto r = socks[static_cast<std::size_t>(i)].read_reply(2000ms);
      ASSERT_TRUE(r) << "connection " << i << " round " << round;
      EXPECT_EQ(r->status, 200);
      EXPECT_EQ(r->body, std::to_string(round * 1000 + i));
      EXPECT_NE(r->head.find("Keep-Alive: timeout=60"), std::string::npos) << r->head;
    }
  }
  const auto s = server_->stats();
  EXPECT_EQ(s.accepted, static_cast<std::uint64_t>(kConnections));  // no reconnects
  EXPECT_EQ(s.requests, static_cast<std::uint64_t>(2 * kConnections));
  EXPECT_EQ(s.open_connections, static_cast<std::size_t>(kConnections));
}

TEST_F(EpollServerTest, PipelinedRequestsAreAnsweredInOrder) {
  start({});
  Socket s(port_);
  ASSERT_TRUE(s.send(get("/echo?i=1") + get("/echo?i=2") + get("/echo?i=3")));
  for (const char* want : {"1", "2", "3"}) {
    auto r = s.read_reply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, want);
  }
}

TEST_F(EpollServerTest, AHalfSentRequestDoesNotHoldTheOnlyThread) {
  start({.threads = 1});
  Socket slow(port_);
  ASSERT_TRUE(slow.send("GET /echo?i=slow HTTP/1.1\r\nHost: te"));
  std::this_thread::sleep_for(100ms);
  Socket fast(port_);
  ASSERT_TRUE(fast.send(get("/echo?i=fast")));
  auto r = fast.read_reply(1000ms);
  ASSERT_TRUE(r) << "the only thread is held by the half-sent request";
  EXPECT_EQ(r->body, "fast");
  ASSERT_TRUE(slow.send("st\r\n\r\n"));
  r = slow.read_reply(1000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "slow");
}

TEST_F(EpollServerTest, AHalfSentRequestIsClosedAfterTheRequestTimeout) {
  start({.request_timeout = 300ms});
  Socket s(port_);
  ASSERT_TRUE(s.send("GET /echo HTTP/1.1\r\n"));
  const auto t0 = Clock::now();
  EXPECT_TRUE(s.closed_by_server(3000ms));
  EXPECT_GE(Clock::now() - t0, 250ms);
  EXPECT_EQ(server_->stats().closed_timeout, 1u);
  EXPECT_EQ(server_->stats().open_connections, 0u);
}

TEST_F(EpollServerTest, ABodyThatStopsArrivingTimesOut) {
  start({.request_timeout = 300ms});
  Socket s(port_);
  ASSERT_TRUE(s.send("POST /size HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n12345"));
  const auto t0 = Clock::now();
  auto r = s.read_reply(3000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 408);
  EXPECT_NE(r->body.find("request_timeout"), std::string::npos) << r->body;
  EXPECT_GE(Clock::now() - t0, 250ms);
  EXPECT_TRUE(s.closed_by_server(1000ms));
}

// Issue 16, finding 1: clients that send full headers and then trickle their bodies held every
// pool thread until the read timeout, and nothing else was answered meanwhile.
TEST_F(EpollServerTest, BodiesTricklingInDoNotHoldThePool) {
  start({.threads = 2, .min_request_rate = 0});
  std::vector<Socket> slow;
  for (int i = 0; i < 8; ++i) {
    slow.emplace_back(port_);
    ASSERT_TRUE(
        slow.back().send("POST /size HTTP/1.1\r\nHost: t\r\nContent-Length: 60000\r\n\r\nx"));
  }
  for (int round = 0; round < 5; ++round) {
    for (auto& s : slow) ASSERT_TRUE(s.send("x"));
    std::this_thread::sleep_for(50ms);
    Socket fast(port_);
    ASSERT_TRUE(fast.send(get("/echo?i=" + std::to_string(round))));
    auto r = fast.read_reply(1000ms);
    ASSERT_TRUE(r) << "no answer while " << slow.size() << " bodies trickle in (round " << round
                   << ")";
    EXPECT_EQ(r->body, std::to_string(round));
  }
  // The slow ones are still served once their bodies are whole.
  const std::string rest(60000 - 6, 'x');
  ASSERT_TRUE(slow[0].send(rest));
  auto r = slow[0].read_reply(2000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "60000");
}

TEST_F(EpollServerTest, ARequestArrivingBelowTheMinimumRateGets408) {
  start({.min_request_rate = 1000, .min_rate_grace = 300ms});
  Socket s(port_);
  ASSERT_TRUE(s.send("POST /size HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n"));
  std::optional<Socket::Reply> r;
  for (int i = 0; i < 30 && !r; ++i) {
    (void)s.send("x");  // fails once the server has closed the connection
    r = s.read_reply(100ms);
  }
  ASSERT_TRUE(r) << "a body at 10 bytes/s was not cut off";
  EXPECT_EQ(r->status, 408);
  EXPECT_NE(r->body.find("slower than 1000 bytes/s"), std::string::npos) << r->body;
  EXPECT_TRUE(s.closed_by_server(1000ms));
  EXPECT_EQ(server_->stats().closed_slow, 1u);
  // A request that arrives at once is unaffected.
  EXPECT_EQ(body_of_get("/echo?i=ok"), "ok");
}

TEST_F(EpollServerTest, OneAddressHoldsOnlySoManyUnfinishedRequests) {
  start({.max_unfinished_per_address = 3});
  const std::string head = "POST /size HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nab";
  std::vector<Socket> held;
  for (int i = 0; i < 3; ++i) {
    held.emplace_back(port_);
    ASSERT_TRUE(held.back().send(head));
  }
  std::this_thread::sleep_for(100ms);  // all three are buffered and waiting
  Socket fourth(port_);
  ASSERT_TRUE(fourth.send(head));
  auto r = fourth.read_reply(2000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 429);
  EXPECT_TRUE(fourth.closed_by_server(1000ms));
  EXPECT_EQ(server_->stats().refused_address, 1u);
  // The three finish normally, and finished requests free their places.
  for (auto& s : held) {
    ASSERT_TRUE(s.send("cd"));
    r = s.read_reply(2000ms);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "4");
  }
  Socket fifth(port_);
  ASSERT_TRUE(fifth.send(head + "cd"));
  r = fifth.read_reply(2000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "4");
}

TEST_F(EpollServerTest, ExpectContinueIsAnsweredBeforeTheBodyAndOnlyOnce) {
  start({});
  Socket s(port_);
  ASSERT_TRUE(s.send(
      "POST /size HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  auto r = s.read_reply(1000ms);
  ASSERT_TRUE(r) << "the client waits for 100 Continue before it sends the body";
  EXPECT_EQ(r->status, 100);
  ASSERT_TRUE(s.send("12345"));
  r = s.read_reply(1000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "5");
  ASSERT_TRUE(s.send(get("/echo?i=next")));
  r = s.read_reply(1000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "next");
}

TEST_F(EpollServerTest, AChunkedBodyArrivingInPiecesIsReadWhole) {
  start({});
  Socket s(port_);
  ASSERT_TRUE(s.send("POST /size HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"));
  for (std::string_view piece : {"5\r\nhel", "lo\r\n", "6;ext=1\r\n world\r\n", "0\r\n", "\r\n"}) {
    std::this_thread::sleep_for(20ms);
    ASSERT_TRUE(s.send(piece));
  }
  auto r = s.read_reply(2000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "11");
  ASSERT_TRUE(s.send(get("/echo?i=after")));
  r = s.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "after");
}

TEST_F(EpollServerTest, AmbiguousFramingIsRefusedWith400) {
  start({});
  for (const std::string& fields :
       {std::string("Content-Length: 3\r\nTransfer-Encoding: chunked\r\n"),
        std::string("Transfer-Encoding: gzip, chunked\r\n"),
        std::string("Content-Length: 3\r\nContent-Length: 4\r\n"),
        std::string("Content-Length: +3\r\n")}) {
    Socket s(port_);
    ASSERT_TRUE(s.send("POST /size HTTP/1.1\r\nHost: t\r\n" + fields + "\r\nabc"));
    auto r = s.read_reply(2000ms);
    ASSERT_TRUE(r) << fields;
    EXPECT_EQ(r->status, 400) << fields;
    EXPECT_TRUE(s.closed_by_server(1000ms)) << fields;
  }
  EXPECT_EQ(server_->stats().refused_framing, 4u);
}

TEST_F(EpollServerTest, AChunkedBodyOverTheLimitGets413BeforeItEnds) {
  start({}, 1000);
  Socket s(port_);
  ASSERT_TRUE(s.send("POST /size HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" +
                     std::string("7d0\r\n") + std::string(500, 'x')));
  auto r = s.read_reply(2000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_TRUE(s.closed_by_server(1000ms));
}

TEST_F(EpollServerTest, TheBodyOfAGetIsNotReadAsTheNextRequest) {
  start({});
  Socket s(port_);
  const std::string hidden = get("/echo?i=smuggled");
  ASSERT_TRUE(s.send("GET /echo?i=first HTTP/1.1\r\nHost: t\r\nContent-Length: " +
                     std::to_string(hidden.size()) + "\r\n\r\n" + hidden + get("/echo?i=second")));
  auto r = s.read_reply(1000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "first");
  r = s.read_reply(1000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "second");
}

TEST_F(EpollServerTest, IdleConnectionsAreClosedAfterTheIdleTimeout) {
  start({.idle_timeout = 400ms});
  Socket s(port_);
  ASSERT_TRUE(s.send(get("/echo?i=1")));
  ASSERT_TRUE(s.read_reply());
  const auto t0 = Clock::now();
  EXPECT_TRUE(s.closed_by_server(3000ms));
  EXPECT_GE(Clock::now() - t0, 350ms);
  EXPECT_EQ(server_->stats().closed_idle, 1u);
}

TEST_F(EpollServerTest, ARequestWithoutContentLengthHasNoBody) {
  start({.request_timeout = 5000ms});
  Socket s(port_);
  // What curl -X DELETE sends: httplib alone would read to the end of the connection.
  ASSERT_TRUE(s.send("DELETE /size HTTP/1.1\r\nHost: t\r\n\r\n" + get("/echo?i=next")));
  auto r = s.read_reply(1000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "0");
  r = s.read_reply(1000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "next");
}

TEST_F(EpollServerTest, ABodyArrivingInPiecesIsReadWhole) {
  start({});
  Socket s(port_);
  const std::string body(200000, 'x');
  ASSERT_TRUE(s.send("POST /size HTTP/1.1\r\nHost: t\r\nContent-Length: 200000\r\n\r\n"));
  for (std::size_t off = 0; off < body.size(); off += 50000) {
    std::this_thread::sleep_for(20ms);
    ASSERT_TRUE(s.send(std::string_view(body).substr(off, 50000)));
  }
  auto r = s.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "200000");
  ASSERT_TRUE(s.send(get("/echo?i=after")));
  r = s.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "after");
}

TEST_F(EpollServerTest, ABodyOverTheLimitGets413AndTheConnectionCloses) {
  start({}, 1000);
  Socket s(port_);
  ASSERT_TRUE(s.send("POST /size HTTP/1.1\r\nHost: t\r\nContent-Length: 500000\r\n\r\n" +
                     std::string(100000, 'x')));
  auto r = s.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_TRUE(s.closed_by_server(2000ms));
}

TEST_F(EpollServerTest, GarbageAndEndlessHeadersGetAnErrorNotAHang) {
  start({.max_header_bytes = 4096});
  {
    Socket s(port_);
    ASSERT_TRUE(s.send("NONSENSE\r\n\r\n"));
    auto r = s.read_reply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 400);
  }
  {
    Socket s(port_);
    ASSERT_TRUE(s.send("GET /echo HTTP/1.1\r\n" + std::string(20000, 'a')));
    auto r = s.read_reply(3000ms);
    ASSERT_TRUE(r);
    EXPECT_GE(r->status, 400);
    EXPECT_TRUE(s.closed_by_server(2000ms));
  }
  EXPECT_EQ(body_of_get("/echo?i=ok"), "ok") << "no longer serving";
}

TEST_F(EpollServerTest, AtMaxConnectionsNewOnesWaitUntilOneCloses) {
  start({.max_connections = 2});
  Socket a(port_), b(port_);
  for (auto* s : {&a, &b}) {
    ASSERT_TRUE(s->send(get("/echo?i=1")));
    ASSERT_TRUE(s->read_reply());
  }
  Socket c(port_);  // completes in the kernel's backlog
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.send(get("/echo?i=c")));
  EXPECT_FALSE(c.read_reply(300ms)) << "served beyond max_connections";
  a.close();
  auto r = c.read_reply(2000ms);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "c");
  EXPECT_EQ(server_->stats().open_connections, 2u);
}

TEST_F(EpollServerTest, ShutdownLetsTheRunningRequestFinish) {
  start({});
  Socket s(port_);
  ASSERT_TRUE(s.send(get("/slow")));
  std::this_thread::sleep_for(100ms);
  std::thread stopper([this] { server_->shutdown(); });
  auto r = s.read_reply(2000ms);
  stopper.join();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "done");
  EXPECT_TRUE(s.closed_by_server(1000ms));
  EXPECT_FALSE(Socket(port_).connected()) << "still accepting after shutdown";
}

TEST_F(EpollServerTest, TheHandlerSeesThePeerAddress) {
  start({});
  EXPECT_EQ(body_of_get("/peer"), "127.0.0.1");
}

TEST_F(EpollServerTest, APeerThatHangsUpAfterItsRequestStillGetsTheAnswerSent) {
  start({});
  Socket s(port_);
  ASSERT_TRUE(s.send("GET /echo?i=last HTTP/1.0\r\n\r\n"));
  ::shutdown(s.fd_for_test(), SHUT_WR);
  auto r = s.read_reply();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "last");
  EXPECT_TRUE(s.closed_by_server(1000ms));
}

TEST(EpollServer, BindingABusyPortIsAClearError) {
  EpollHttpServer a({}), b({});
  auto port = a.bind_listener("127.0.0.1", 0);
  ASSERT_TRUE(port.ok());
  auto again = b.bind_listener("127.0.0.1", *port);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message.find("cannot listen on 127.0.0.1:"), std::string::npos)
      << again.error().message;
}

}  // namespace
}  // namespace reclothes::controller
