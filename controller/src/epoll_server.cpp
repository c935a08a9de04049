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
#include <optional>

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

bool iequals_prefix(std::string_view text, std::size_t at, std::string_view lower) {
  if (text.size() - at < lower.size()) return false;
  for (std::size_t i = 0; i < lower.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[at + i])) != lower[i]) return false;
  }
  return true;
}

// Whether a request's header block declares a body. RFC 9112 section 6.3: a request with neither
// Content-Length nor Transfer-Encoding has no body. httplib 0.11 would instead read a POST, PUT,
// PATCH or DELETE without them to the end of the connection (a curl -X DELETE waits for the read
// timeout), so the stream reports the end of the request after its headers.
bool declares_body(std::string_view headers) {
  for (std::size_t i = headers.find('\n'); i != std::string_view::npos;
       i = headers.find('\n', i + 1)) {
    if (iequals_prefix(headers, i + 1, "content-length:") ||
        iequals_prefix(headers, i + 1, "transfer-encoding:")) {
      return true;
    }
  }
  return false;
}

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
  std::uint64_t requests = 0;

  // Guarded by mu_.
  bool busy = false;
  bool closed = false;
  SteadyClock::time_point last_active;
  std::optional<SteadyClock::time_point> partial_since;  // part of a request is buffered

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

EpollHttpServer::EpollHttpServer(Options options) : options_(std::move(options)) {
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

void EpollHttpServer::release(const std::shared_ptr<Conn>& conn) {
  if (conn->in_off == conn->in.size()) {
    // Idle until its next request: hold no buffers (10,000 idle connections would otherwise keep
    // 16 KiB or more each).
    std::string().swap(conn->in);
    conn->in_off = 0;
  }
  std::string().swap(conn->out);
  std::lock_guard lock(mu_);
  conn->busy = false;
  conn->last_active = SteadyClock::now();
  if (conn->in_off < conn->in.size()) {
    if (!conn->partial_since) conn->partial_since = conn->last_active;
  } else {
    conn->partial_since.reset();
  }
  rearm(conn->fd, conn->key);
}

void EpollHttpServer::close_conn(const std::shared_ptr<Conn>& conn, bool idle, bool timeout) {
  std::lock_guard lock(mu_);
  if (conn->closed) return;
  conn->closed = true;
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

void EpollHttpServer::sweep() {
  const auto now = SteadyClock::now();
  std::vector<std::pair<std::shared_ptr<Conn>, bool>> expired;  // (conn, idle rather than timeout)
  {
    std::lock_guard lock(mu_);
    for (const auto& [fd, conn] : conns_) {
      if (conn->busy) continue;
      if (conn->partial_since) {
        if (now - *conn->partial_since > options_.request_timeout)
          expired.emplace_back(conn, false);
      } else if (now - conn->last_active > options_.idle_timeout) {
        expired.emplace_back(conn, true);
      }
    }
    // Claim them so that no thread starts serving one while it is being closed.
    for (auto& [conn, idle] : expired) conn->busy = true;
    if (accept_paused_ && !stopping_ && conns_.size() < options_.max_connections) {
      accept_paused_ = false;
      rearm(listen_fd_, kListenKey);
    }
  }
  for (auto& [conn, idle] : expired) close_conn(conn, idle, !idle);
}

void EpollHttpServer::serve_connection(const std::shared_ptr<Conn>& conn) {
  // Take what has arrived, without waiting. Through a per-thread buffer, so that an idle
  // connection's own buffer can stay empty (released in release()).
  thread_local std::array<char, kRecvChunk> chunk;
  conn->compact();
  for (;;) {
    if (conn->in.size() >= options_.max_header_bytes + kRecvChunk) break;
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

  // Serve every request whose headers are complete (pipelining keeps them in order). A header
  // block that never ends is handed to httplib at the size limit, which answers it with an error.
  for (;;) {
    auto end = conn->headers_end();
    const bool oversize = !end && conn->pending().size() >= options_.max_header_bytes;
    const bool last_bytes = !end && conn->eof && !conn->pending().empty();
    if (!end && !oversize && !last_bytes) break;

    std::optional<std::size_t> end_of_request;
    if (end && !declares_body(conn->pending().substr(0, *end))) {
      end_of_request = conn->in_off + *end;
    }
    // A header block over the limit gets no more time: httplib answers what is buffered.
    const auto now = SteadyClock::now();
    ConnStream strm(*conn, oversize ? now : now + options_.request_timeout,
                    now + options_.request_timeout,
                    options_.max_header_bytes + payload_max_length_ + kRecvChunk, end_of_request);
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
    if (!ok || !sent || connection_closed || close_connection || conn->broken) {
      close_conn(conn, false, conn->broken);
      return;
    }
    conn->compact();
  }
  if (conn->eof) {
    close_conn(conn, false, false);
    return;
  }
  release(conn);
}

}  // namespace reclothes::controller
