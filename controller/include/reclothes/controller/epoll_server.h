// An HTTP/1.1 listener for many keep-alive connections: cpp-httplib does the HTTP, we own the
// sockets.
//
// cpp-httplib 0.11 serves a keep-alive connection on one pool thread for as long as it stays open,
// polling it every 10 ms while it is idle, so its thread count caps the open connections and the
// rest wait unserved (docs/performance.md, B5). This class keeps everything HTTP in httplib (its
// Server parses the request, routes it to our handlers and writes the response through
// Server::process_request, which httplib keeps protected for subclasses) and replaces only the
// connection handling:
//   - every connection sits in one epoll set while it waits for its next request; an idle
//     connection costs a file descriptor and a buffer, not a thread;
//   - the pool threads themselves wait on the epoll set (EPOLLONESHOT: one thread per ready
//     connection), so a request costs one wake-up, as with httplib's own loop;
//   - a thread is taken only once a whole request has arrived: its headers and its body are
//     buffered in the event loop (request_framing.h says where a request ends), so a client that
//     trickles its headers or its body holds a buffer, never a thread. A request must arrive
//     within request_timeout and, after min_rate_grace, at min_request_rate bytes/s on average
//     (408 otherwise); one address may hold max_unfinished_per_address unfinished requests at
//     once (429 for the next); a body over the limit or refused framing is answered (413, 400)
//     without reading it. `Expect: 100-continue` is answered from the loop;
//   - each response leaves in one send();
//   - idle connections are closed after idle_timeout, half-sent requests after request_timeout;
//   - at max_connections the listener stops accepting and new connections wait in the kernel's
//     backlog until one closes.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "reclothes/common/result.h"

namespace reclothes::controller {

class EpollHttpServer : public httplib::Server {
 public:
  struct Options {
    std::size_t threads = 8;
    std::size_t max_connections = 10000;
    std::chrono::milliseconds idle_timeout{60000};
    std::chrono::milliseconds request_timeout{10000};
    std::size_t max_header_bytes = 64 * 1024;
    int backlog = 1024;
    // An unfinished request (headers or body) older than min_rate_grace must have arrived at this
    // average rate; 0 turns the check off.
    std::size_t min_request_rate = 1024;  // bytes per second
    std::chrono::milliseconds min_rate_grace{2000};
    // Unfinished requests one client address may hold at once; 0 = no limit.
    std::size_t max_unfinished_per_address = 32;
  };
  struct Stats {
    std::size_t open_connections = 0;
    std::uint64_t accepted = 0;
    std::uint64_t requests = 0;
    std::uint64_t closed_idle = 0;      // idle longer than idle_timeout
    std::uint64_t closed_timeout = 0;   // a request that did not arrive within request_timeout
    std::uint64_t closed_slow = 0;      // an unfinished request below min_request_rate
    std::uint64_t refused_address = 0;  // over max_unfinished_per_address
    std::uint64_t refused_framing = 0;  // 413 before the body, or 400 for refused framing
  };

  // The answers the server gives itself (408, 413, 400 framing, 429): a JSON body and extra
  // header fields. The default is a small JSON object with `code` and `message`. Called on a pool
  // thread.
  struct Refusal {
    std::string json_body;
    std::vector<std::pair<std::string, std::string>> headers;
  };
  using RefusalBody =
      std::function<Refusal(int status, std::string_view message, const std::string& remote_ip)>;

  explicit EpollHttpServer(Options options, RefusalBody refusal_body = {});
  ~EpollHttpServer() override;
  EpollHttpServer(const EpollHttpServer&) = delete;
  EpollHttpServer& operator=(const EpollHttpServer&) = delete;

  // Binds and listens on host:port (port 0: any free port). Returns the port.
  Result<int> bind_listener(const std::string& host, int port);
  // Starts the pool threads. Call after bind_listener and after the handlers are set.
  Status serve();
  // Stops accepting, lets running requests finish, closes every connection, joins the threads.
  // Idempotent.
  void shutdown();

  Stats stats() const;

 private:
  struct Conn;
  class ConnStream;

  void worker();
  void accept_all();
  void serve_connection(const std::shared_ptr<Conn>& conn);
  std::shared_ptr<Conn> claim(std::uint64_t key);
  // Rearms a served connection; false (still claimed) when it holds an unfinished request and
  // its address is over max_unfinished_per_address.
  bool release(const std::shared_ptr<Conn>& conn);
  void close_conn(const std::shared_ptr<Conn>& conn, bool idle, bool timeout);
  // Answers `status` with a refusal body and closes the connection (claimed by the caller).
  void refuse(const std::shared_ptr<Conn>& conn, int status, std::string_view message);
  // Under mu_: marks the connection as holding an unfinished request or not, keeping the
  // per-address counts. Returns false when the address is over max_unfinished_per_address.
  bool set_unfinished(Conn& conn, bool unfinished);
  void sweep();
  void rearm(int fd, std::uint64_t key) const;

  Options options_;
  RefusalBody refusal_body_;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int stop_fd_ = -1;   // eventfd, never read: once written it wakes every thread for good
  int timer_fd_ = -1;  // periodic sweep of idle and timed-out connections
  std::atomic<bool> stopping_{false};
  bool serving_ = false;
  std::vector<std::thread> threads_;

  mutable std::mutex mu_;  // guards everything below
  std::unordered_map<int, std::shared_ptr<Conn>> conns_;
  std::unordered_map<std::string, std::size_t> unfinished_by_address_;
  std::uint32_t next_generation_ = 1;
  bool accept_paused_ = false;  // at max_connections or out of file descriptors
  Stats stats_;
};

}  // namespace reclothes::controller
