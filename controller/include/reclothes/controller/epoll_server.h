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
//   - a thread is taken only once a request's headers have fully arrived, and the whole request
//     must then arrive within request_timeout: slow clients cannot hold the pool;
//   - each response leaves in one send();
//   - idle connections are closed after idle_timeout, half-sent requests after request_timeout;
//   - at max_connections the listener stops accepting and new connections wait in the kernel's
//     backlog until one closes.
#pragma once

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
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
  };
  struct Stats {
    std::size_t open_connections = 0;
    std::uint64_t accepted = 0;
    std::uint64_t requests = 0;
    std::uint64_t closed_idle = 0;     // idle longer than idle_timeout
    std::uint64_t closed_timeout = 0;  // a request that did not arrive within request_timeout
  };

  explicit EpollHttpServer(Options options);
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
  void release(const std::shared_ptr<Conn>& conn);
  void close_conn(const std::shared_ptr<Conn>& conn, bool idle, bool timeout);
  void sweep();
  void rearm(int fd, std::uint64_t key) const;

  Options options_;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int stop_fd_ = -1;   // eventfd, never read: once written it wakes every thread for good
  int timer_fd_ = -1;  // periodic sweep of idle and timed-out connections
  std::atomic<bool> stopping_{false};
  bool serving_ = false;
  std::vector<std::thread> threads_;

  mutable std::mutex mu_;  // guards everything below
  std::unordered_map<int, std::shared_ptr<Conn>> conns_;
  std::uint32_t next_generation_ = 1;
  bool accept_paused_ = false;  // at max_connections or out of file descriptors
  Stats stats_;
};

}  // namespace reclothes::controller
