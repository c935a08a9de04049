#include "reclothes/controller/epoll_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>

#include "reclothes/controller/request_framing.h"

namespace reclothes::controller {
namespace {

using SteadyClock = std::chrono::steady_clock;

// epoll keys: connections carry (generation << 32 | fd), generation >= 1, so they never collide
// with these.
constexpr std::uint64_t kListenKey = 1;
constexpr std::uint64_t kStopKey = 2;
constexpr std::uint64_t kTimerKey = 3;

constexpr std::size_t kRecvChunk = 16 * 1024;
constexpr std::size_t kSendThreshold = 64 * 1024;  // a larger response leaves in pieces
constexpr std::chrono::milliseconds kSweepInterval{250};

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

void address_of(const sockaddr_storage& sa, std::string& ip, int& port) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (sa.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(sa);
    inet_ntop(AF_INET, &a.sin_addr, buf, sizeof buf);
    port = ntohs(a.sin_port);
  } else if (sa.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(sa);
    if (IN6_IS_ADDR_V4MAPPED(&a.sin6_addr)) {
      inet_ntop(AF_INET, &a.sin6_addr.s6_addr[12], buf, sizeof buf);  // "::ffff:1.2.3.4" -> 1.2.3.4
    } else {
      inet_ntop(AF_INET6, &a.sin6_addr, buf, sizeof buf);
    }
    port = ntohs(a.sin6_port);
  }
  ip = buf;
}

std::string_view epoll_reason_phrase(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 408:
      return "Request Timeout";
    case 413:
      return "Payload Too Large";
    case 429:
      return "Too Many Requests";
    default:
      return "Error";
  }
}

std::string_view epoll_refusal_code(int status) {
  switch (status) {
    case 408:
      return "request_timeout";
    case 413:
      return "payload_too_large";
    case 429:
      return "rate_limited";
    default:
      return "bad_request";
  }
}

constexpr std::string_view kContinueLine = "HTTP/1.1 100 Continue\r\n\r\n";

}  // namespace

struct EpollHttpServer::Conn {
  int fd = -1;
  std::uint64_t key = 0;
  std::string remote_ip;
  int remote_port = 0;
  std::string local_ip;
  int local_port = 0;

  // Owned by the thread that claimed the connection (busy), or by nobody while it is armed.
  std::string in;  // received, not yet consumed from in_off on
  std::size_t in_off = 0;
  std::string out;
  bool eof = false;     // the peer closed its side
  bool broken = false;  // a timeout, an error or a request over the limits: close after replying
  bool continue_sent = false;  // this request's `100 Continue` went out from the event loop
  std::uint64_t requests = 0;

  // Guarded by mu_.
  bool busy = false;
  bool closed = false;
  SteadyClock::time_point last_active;
  std::optional<SteadyClock::time_point> partial_since;  // part of a request is buffered
  bool unfinished = false;                               // counted in unfinished_by_address_

  std::string_view pending() const { return std::string_view(in).substr(in_off); }
  // Offset (from in_off) just past the blank line ending the next request's headers.
  std::optional<std::size_t> headers_end() const {
    const auto p = pending().find("\r\n\r\n");
    if (p == std::string_view::npos) return std::nullopt;
    return p + 4;
  }
  void compact() {
    if (in_off == 0) return;
    in.erase(0, in_off);
    in_off = 0;
  }
};

// What process_request reads from and writes to: the connection's buffers, with one deadline for
// the whole request and a cap on the bytes it may read.
class EpollHttpServer::ConnStream final : public httplib::Stream {
 public:
  // Reads wait for the client until read_deadline, writes until write_deadline.
  ConnStream(Conn& conn, SteadyClock::time_point read_deadline,
             SteadyClock::time_point write_deadline, std::size_t read_cap,
             std::optional<std::size_t> end_of_request)
      : c_(conn),
        read_deadline_(read_deadline),
        write_deadline_(write_deadline),
        read_cap_(read_cap),
        end_(end_of_request) {}

  bool is_readable() const override {
    return c_.in_off < c_.in.size() || wait(POLLIN, read_deadline_);
  }
  bool is_writable() const override { return true; }

  ssize_t read(char* ptr, size_t size) override {
    if (end_) {
      // No body: the request ends after its headers.
      if (c_.in_off >= *end_) return 0;
      size = std::min(size, *end_ - c_.in_off);
    }
    if (c_.in_off == c_.in.size()) {
      // About to wait for the client: whatever is written so far (100 Continue) must go first.
      if (!flush()) return -1;
      const auto n = fill();
      if (n <= 0) return n;
    }
    const auto n = std::min(size, c_.in.size() - c_.in_off);
    if (read_ + n > read_cap_) {
      c_.broken = true;
      return -1;
    }
    std::memcpy(ptr, c_.in.data() + c_.in_off, n);
    c_.in_off += n;
    read_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (c_.continue_sent && std::string_view(ptr, size) == kContinueLine) {
      // httplib answers `Expect: 100-continue` too; the loop already did, before the body came.
      c_.continue_sent = false;
      return static_cast<ssize_t>(size);
    }
    c_.out.append(ptr, size);
    if (c_.out.size() >= kSendThreshold && !flush()) return -1;
    return static_cast<ssize_t>(size);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = c_.remote_ip;
    port = c_.remote_port;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = c_.local_ip;
    port = c_.local_port;
  }
  socket_t socket() const override { return c_.fd; }

  // Sends everything written so far. False (and the connection is broken) on an error or when the
  // client does not take it before the deadline.
  bool flush() {
    std::size_t sent = 0;
    while (sent < c_.out.size()) {
      const auto n =
          ::send(c_.fd, c_.out.data() + sent, c_.out.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        sent += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && wait(POLLOUT, write_deadline_)) {
        continue;
      }
      c_.broken = true;
      c_.out.clear();
      return false;
    }
    c_.out.clear();
    return true;
  }

 private:
  // Receives more into the connection's buffer: > 0 bytes, 0 at the end of the stream, -1 on an
  // error or at the deadline.
  ssize_t fill() {
    c_.compact();
    const auto old = c_.in.size();
    c_.in.resize(old + kRecvChunk);
    for (;;) {
      const auto n = ::recv(c_.fd, c_.in.data() + old, kRecvChunk, MSG_DONTWAIT);
      if (n > 0) {
        c_.in.resize(old + static_cast<std::size_t>(n));
        return n;
      }
      if (n == 0) {
        c_.in.resize(old);
        c_.eof = true;
        return 0;
      }
      if (errno == EINTR) continue;
      if ((errno == EAGAIN || errno == EWOULDBLOCK) && wait(POLLIN, read_deadline_)) continue;
      c_.in.resize(old);
      c_.broken = true;
      return -1;
    }
  }

  // Waits for the socket until the deadline.
  bool wait(short events, SteadyClock::time_point deadline) const {
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
      if (left.count() <= 0) return false;
      pollfd p{c_.fd, events, 0};
      const int r = ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left.count(), 1000)));
      if (r > 0) return (p.revents & (events | POLLHUP | POLLERR)) != 0;
      if (r < 0 && errno != EINTR) return false;
    }
  }

  Conn& c_;
  SteadyClock::time_point read_deadline_;
  SteadyClock::time_point write_deadline_;
  std::size_t read_cap_;
  std::optional<std::size_t> end_;  // absolute offset in c_.in where a body-less request ends
  std::size_t read_ = 0;
};

EpollHttpServer::EpollHttpServer(Options options, RefusalBody refusal_body)
    : options_(std::move(options)), refusal_body_(std::move(refusal_body)) {
  options_.threads = std::max<std::size_t>(1, options_.threads);
  options_.max_connections = std::max<std::size_t>(1, options_.max_connections);
  // The Keep-Alive header httplib writes states these.
  set_keep_alive_timeout(std::max<time_t>(
      1, std::chrono::duration_cast<std::chrono::seconds>(options_.idle_timeout).count()));
}

EpollHttpServer::~EpollHttpServer() {
  shutdown();
  for (int fd : {listen_fd_, epoll_fd_, stop_fd_, timer_fd_}) {
    if (fd >= 0) ::close(fd);
  }
}

Result<int> EpollHttpServer::bind_listener(const std::string& host, int port) {
  if (listen_fd_ >= 0) return make_error(ErrorCode::kFailedPrecondition, "already bound");
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const auto service = std::to_string(port);
  if (const int rc =
          ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found);
      rc != 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "cannot resolve listen address " + host + ": " + gai_strerror(rc));
  }
  std::string last_error = "no address";
  for (auto* ai = found; ai != nullptr; ai = ai->ai_next) {
    const int fd =
        ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last_error = errno_text("socket");
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, options_.backlog) != 0) {
      last_error = errno_text("bind");
      ::close(fd);
      continue;
    }
    listen_fd_ = fd;
    break;
  }
  ::freeaddrinfo(found);
  if (listen_fd_ < 0) {
    return make_error(ErrorCode::kUnavailable,
                      "cannot listen on " + host + ":" + service + " (" + last_error + ")");
  }
  sockaddr_storage sa{};
  socklen_t len = sizeof sa;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&sa), &len);
  std::string ip;
  int bound = 0;
  address_of(sa, ip, bound);
  return bound;
}

Status EpollHttpServer::serve() {
  if (serving_) return ok_status();
  if (listen_fd_ < 0) return make_error(ErrorCode::kFailedPrecondition, "not bound");
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  timer_fd_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  if (epoll_fd_ < 0 || stop_fd_ < 0 || timer_fd_ < 0) {
    return make_error(ErrorCode::kUnavailable, errno_text("epoll setup"));
  }
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(kSweepInterval).count();
  itimerspec spec{};
  spec.it_interval.tv_sec = ns / 1000000000;
  spec.it_interval.tv_nsec = ns % 1000000000;
  spec.it_value = spec.it_interval;
  ::timerfd_settime(timer_fd_, 0, &spec, nullptr);

  epoll_event ev{};
  ev.events = EPOLLIN;  // level-triggered and never read: wakes every waiting thread, for good
  ev.data.u64 = kStopKey;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, stop_fd_, &ev);
  ev.events = EPOLLIN | EPOLLONESHOT;
  ev.data.u64 = kTimerKey;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, timer_fd_, &ev);
  ev.data.u64 = kListenKey;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev) != 0) {
    return make_error(ErrorCode::kUnavailable, errno_text("epoll_ctl"));
  }
  serving_ = true;
  for (std::size_t i = 0; i < options_.threads; ++i) threads_.emplace_back([this] { worker(); });
  return ok_status();
}

void EpollHttpServer::shutdown() {
  if (!serving_) return;
  stopping_ = true;
  const std::uint64_t one = 1;
  [[maybe_unused]] const auto w = ::write(stop_fd_, &one, sizeof one);
  for (auto& t : threads_) t.join();
  threads_.clear();
  ::close(listen_fd_);  // connections still in the backlog are refused now, not left waiting
  listen_fd_ = -1;
  std::lock_guard lock(mu_);
  for (auto& [fd, conn] : conns_) {
    ::close(fd);
    conn->closed = true;
  }
  stats_.open_connections = 0;
  conns_.clear();
  serving_ = false;
}

EpollHttpServer::Stats EpollHttpServer::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void EpollHttpServer::rearm(int fd, std::uint64_t key) const {
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
  ev.data.u64 = key;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev);
}

void EpollHttpServer::worker() {
  while (!stopping_) {
    epoll_event ev{};
    const int n = ::epoll_wait(epoll_fd_, &ev, 1, -1);
    if (n <= 0 || stopping_) continue;
    const auto key = ev.data.u64;
    if (key == kStopKey) break;
    if (key == kListenKey) {
      accept_all();
      continue;
    }
    if (key == kTimerKey) {
      std::uint64_t expirations = 0;
      [[maybe_unused]] const auto r = ::read(timer_fd_, &expirations, sizeof expirations);
      sweep();
      epoll_event tev{};
      tev.events = EPOLLIN | EPOLLONESHOT;
      tev.data.u64 = kTimerKey;
      ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, timer_fd_, &tev);
      continue;
    }
    if (auto conn = claim(key)) serve_connection(conn);
  }
}

void EpollHttpServer::accept_all() {
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      if (conns_.size() >= options_.max_connections) {
        accept_paused_ = true;  // the sweep resumes accepting once a connection has closed
        return;
      }
    }
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      std::lock_guard lock(mu_);
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        rearm(listen_fd_, kListenKey);
      } else {
        accept_paused_ = true;  // EMFILE and friends: retried by the next sweep
      }
      return;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto conn = std::make_shared<Conn>();
    conn->fd = fd;
    address_of(peer, conn->remote_ip, conn->remote_port);
    sockaddr_storage local{};
    len = sizeof local;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len);
    address_of(local, conn->local_ip, conn->local_port);
    conn->last_active = SteadyClock::now();

    std::lock_guard lock(mu_);
    conn->key =
        (static_cast<std::uint64_t>(next_generation_++) << 32) | static_cast<std::uint32_t>(fd);
    if (next_generation_ == 0) next_generation_ = 1;
    conns_[fd] = conn;
    ++stats_.accepted;
    stats_.open_connections = conns_.size();
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
    ev.data.u64 = conn->key;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
  }
}

std::shared_ptr<EpollHttpServer::Conn> EpollHttpServer::claim(std::uint64_t key) {
  std::lock_guard lock(mu_);
  const auto it = conns_.find(static_cast<int>(key & 0xffffffffu));
  // A stale event of a connection the sweep closed (its fd may already be reused): ignore it.
  if (it == conns_.end() || it->second->key != key || it->second->busy) return nullptr;
  it->second->busy = true;
  return it->second;
}

bool EpollHttpServer::set_unfinished(Conn& conn, bool unfinished) {
  if (conn.unfinished == unfinished) return true;
  conn.unfinished = unfinished;
  if (!unfinished) {
    const auto it = unfinished_by_address_.find(conn.remote_ip);
    if (it != unfinished_by_address_.end() && --it->second == 0) unfinished_by_address_.erase(it);
    return true;
  }
  const auto count = ++unfinished_by_address_[conn.remote_ip];
  return options_.max_unfinished_per_address == 0 || count <= options_.max_unfinished_per_address;
}

bool EpollHttpServer::release(const std::shared_ptr<Conn>& conn) {
  if (conn->in_off == conn->in.size()) {
    // Idle until its next request: hold no buffers (10,000 idle connections would otherwise keep
    // 16 KiB or more each).
    std::string().swap(conn->in);
    conn->in_off = 0;
  }
  std::string().swap(conn->out);
  std::lock_guard lock(mu_);
  conn->last_active = SteadyClock::now();
  const bool unfinished = conn->in_off < conn->in.size();
  if (unfinished) {
    if (!conn->partial_since) conn->partial_since = conn->last_active;
  } else {
    conn->partial_since.reset();
  }
  if (!set_unfinished(*conn, unfinished)) {
    ++stats_.refused_address;
    return false;  // still claimed: the caller refuses it
  }
  conn->busy = false;
  rearm(conn->fd, conn->key);
  return true;
}

void EpollHttpServer::close_conn(const std::shared_ptr<Conn>& conn, bool idle, bool timeout) {
  std::lock_guard lock(mu_);
  if (conn->closed) return;
  conn->closed = true;
  set_unfinished(*conn, false);
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, conn->fd, nullptr);
  ::close(conn->fd);
  conns_.erase(conn->fd);
  stats_.open_connections = conns_.size();
  if (idle) ++stats_.closed_idle;
  if (timeout) ++stats_.closed_timeout;
  if (accept_paused_ && !stopping_) {
    accept_paused_ = false;
    rearm(listen_fd_, kListenKey);
  }
}

void EpollHttpServer::refuse(const std::shared_ptr<Conn>& conn, int status,
                             std::string_view message) {
  Refusal refusal;
  if (refusal_body_) {
    refusal = refusal_body_(status, message, conn->remote_ip);
  } else {
    refusal.json_body =
        nlohmann::json{{"code", epoll_refusal_code(status)}, {"message", message}}.dump();
  }
  std::string response = "HTTP/1.1 " + std::to_string(status) + " ";
  response += epoll_reason_phrase(status);
  response += "\r\nContent-Type: application/json\r\nContent-Length: " +
              std::to_string(refusal.json_body.size()) + "\r\nConnection: close\r\n";
  for (const auto& [name, value] : refusal.headers) response += name + ": " + value + "\r\n";
  response += "\r\n" + refusal.json_body;
  // Best effort, without waiting: a client that does not read its refusal does not get it.
  [[maybe_unused]] const auto n =
      ::send(conn->fd, response.data(), response.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  // Closing a socket with unread input sends a reset, which can discard the refusal before the
  // client reads it: drop what has arrived of the request first.
  thread_local std::array<char, kRecvChunk> sink;
  for (int i = 0; i < 4 && ::recv(conn->fd, sink.data(), sink.size(), MSG_DONTWAIT) > 0; ++i) {
  }
  close_conn(conn, false, status == 408);
}

void EpollHttpServer::sweep() {
  const auto now = SteadyClock::now();
  struct Expired {
    std::shared_ptr<Conn> conn;
    int status;  // 0: idle, closed without an answer
    std::string message;
  };
  std::vector<Expired> expired;
  {
    std::lock_guard lock(mu_);
    for (const auto& [fd, conn] : conns_) {
      if (conn->busy) continue;
      if (conn->partial_since) {
        const auto age = now - *conn->partial_since;
        const auto age_ms = std::chrono::duration_cast<std::chrono::milliseconds>(age).count();
        const auto received = conn->in.size() - conn->in_off;
        if (age > options_.request_timeout) {
          expired.push_back({conn, 408,
                             "the request did not arrive within " +
                                 std::to_string(options_.request_timeout.count()) + " ms"});
        } else if (options_.min_request_rate > 0 && age > options_.min_rate_grace &&
                   received * 1000 < options_.min_request_rate * static_cast<std::size_t>(age_ms)) {
          ++stats_.closed_slow;
          expired.push_back({conn, 408,
                             "the request is arriving slower than " +
                                 std::to_string(options_.min_request_rate) + " bytes/s"});
        }
      } else if (now - conn->last_active > options_.idle_timeout) {
        expired.push_back({conn, 0, {}});
      }
    }
    // Claim them so that no thread starts serving one while it is being closed.
    for (auto& e : expired) e.conn->busy = true;
    if (accept_paused_ && !stopping_ && conns_.size() < options_.max_connections) {
      accept_paused_ = false;
      rearm(listen_fd_, kListenKey);
    }
  }
  for (auto& e : expired) {
    if (e.status == 0) {
      close_conn(e.conn, true, false);
    } else {
      refuse(e.conn, e.status, e.message);
    }
  }
}

void EpollHttpServer::serve_connection(const std::shared_ptr<Conn>& conn) {
  // Take what has arrived, without waiting. Through a per-thread buffer, so that an idle
  // connection's own buffer can stay empty (released in release()).
  thread_local std::array<char, kRecvChunk> chunk;
  conn->compact();
  const std::size_t buffer_cap = options_.max_header_bytes + payload_max_length_ + kRecvChunk;
  for (;;) {
    if (conn->in.size() >= buffer_cap) break;
    const auto n = ::recv(conn->fd, chunk.data(), chunk.size(), MSG_DONTWAIT);
    if (n > 0) {
      conn->in.append(chunk.data(), static_cast<std::size_t>(n));
      if (static_cast<std::size_t>(n) < chunk.size()) break;
      continue;
    }
    if (n == 0) {
      conn->eof = true;
    } else if (errno == EINTR) {
      continue;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
      conn->broken = true;
    }
    break;
  }
  if (conn->broken) {
    close_conn(conn, false, false);
    return;
  }

  // Serve every request that is whole (pipelining keeps them in order). A header block that never
  // ends is handed to httplib at the size limit, which answers it with an error.
  for (;;) {
    auto end = conn->headers_end();
    const bool oversize = !end && conn->pending().size() >= options_.max_header_bytes;
    const bool last_bytes = !end && conn->eof && !conn->pending().empty();
    if (!end && !oversize && !last_bytes) break;

    std::optional<std::size_t> end_of_request;
    if (end) {
      const auto framing = frame_request(conn->pending(), *end, payload_max_length_);
      using Kind = RequestFraming::Kind;
      if (framing.kind == Kind::kTooLarge) {
        {
          std::lock_guard lock(mu_);
          ++stats_.refused_framing;
        }
        refuse(conn, 413, "the request body is larger than the limit");
        return;
      }
      if (framing.kind == Kind::kBad) {
        {
          std::lock_guard lock(mu_);
          ++stats_.refused_framing;
        }
        refuse(conn, 400, framing.reason);
        return;
      }
      if (framing.kind == Kind::kIncomplete) {
        if (conn->eof) {
          refuse(conn, 400, "the connection ended before the request's body");
          return;
        }
        if (framing.expects_continue && !conn->continue_sent) {
          // The client waits for this before it sends the body.
          conn->continue_sent = true;
          conn->out.assign(kContinueLine);
          ConnStream strm(*conn, SteadyClock::now(), SteadyClock::now() + options_.request_timeout,
                          0, std::nullopt);
          if (!strm.flush()) {
            close_conn(conn, false, false);
            return;
          }
        }
        break;  // the rest arrives while no thread waits for it
      }
      end_of_request = conn->in_off + framing.length;
    }
    // A header block over the limit gets no more time: httplib answers what is buffered.
    const auto now = SteadyClock::now();
    ConnStream strm(*conn, oversize ? now : now + options_.request_timeout,
                    now + options_.request_timeout, buffer_cap, end_of_request);
    ++conn->requests;
    {
      // Counted before it is answered: a client that has its answer sees it in stats() (counted
      // after the send, the last request of a burst was sometimes missing from a test's count).
      std::lock_guard lock(mu_);
      ++stats_.requests;
    }
    const bool close_connection =
        stopping_ || conn->eof || oversize || conn->requests >= keep_alive_max_count_;
    bool connection_closed = false;
    const bool ok = process_request(strm, close_connection, connection_closed, nullptr);
    const bool sent = strm.flush();
    conn->continue_sent = false;
    if (!ok || !sent || connection_closed || close_connection || conn->broken) {
      close_conn(conn, false, conn->broken);
      return;
    }
    // What httplib did not read of the request (a GET's body) is not the next request.
    if (end_of_request && conn->in_off < *end_of_request) conn->in_off = *end_of_request;
    conn->compact();
  }
  if (conn->eof) {
    close_conn(conn, false, false);
    return;
  }
  if (!release(conn)) {
    refuse(conn, 429, "too many unfinished requests from this address; finish or close them");
  }
}

}  // namespace reclothes::controller
