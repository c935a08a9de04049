#include "reclothes/simulator/network_link.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <list>
#include <vector>

namespace reclothes::simulator {

namespace {

// Bytes buffered per direction before the relay stops reading from the sender (back-pressure).
constexpr std::size_t kMaxBuffered = 256 * 1024;

Error errno_error(const std::string& what) {
  return make_error(ErrorCode::kIo, what + ": " + std::strerror(errno));
}

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

struct Pair {
  int client = -1;
  int upstream = -1;
  bool connecting = true;
  std::string to_upstream;
  std::string to_client;
  bool dead = false;
};

// Reads what is there into `buffer`; false on EOF or error.
bool pump_in(int fd, std::string& buffer) {
  char chunk[16384];
  for (;;) {
    const ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n > 0) {
      buffer.append(chunk, static_cast<std::size_t>(n));
      if (buffer.size() >= kMaxBuffered) return true;
      continue;
    }
    if (n == 0) return false;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  }
}

// Writes as much of `buffer` as the socket takes; false on error.
bool pump_out(int fd, std::string& buffer) {
  while (!buffer.empty()) {
    const ssize_t n = ::send(fd, buffer.data(), buffer.size(), MSG_NOSIGNAL);
    if (n > 0) {
      buffer.erase(0, static_cast<std::size_t>(n));
      continue;
    }
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
  }
  return true;
}

}  // namespace

Result<BrokerAddress> parse_broker_uri(const std::string& uri) {
  const std::size_t sep = uri.find("://");
  if (sep == std::string::npos) {
    return make_error(ErrorCode::kInvalidArgument,
                      "broker uri \"" + uri + "\": expected scheme://host:port");
  }
  BrokerAddress a;
  a.scheme = uri.substr(0, sep);
  std::string rest = uri.substr(sep + 3);
  if (const std::size_t slash = rest.find('/'); slash != std::string::npos) rest.resize(slash);
  const bool tls = a.scheme == "ssl" || a.scheme == "mqtts" || a.scheme == "wss";
  if (a.scheme != "tcp" && a.scheme != "mqtt" && !tls && a.scheme != "ws") {
    return make_error(ErrorCode::kInvalidArgument,
                      "broker uri \"" + uri + "\": unknown scheme " + a.scheme);
  }
  const std::size_t colon = rest.rfind(':');
  if (colon == std::string::npos || rest.find(']') != std::string::npos) {
    a.host = rest;
    a.port = tls ? 8883 : 1883;
  } else {
    a.host = rest.substr(0, colon);
    try {
      std::size_t used = 0;
      a.port = std::stoi(rest.substr(colon + 1), &used);
      if (used != rest.size() - colon - 1) a.port = 0;
    } catch (const std::exception&) {
      a.port = 0;
    }
  }
  if (a.host.empty() || a.port < 1 || a.port > 65535) {
    return make_error(ErrorCode::kInvalidArgument,
                      "broker uri \"" + uri + "\": expected a host and a port 1..65535");
  }
  return a;
}

Result<std::unique_ptr<NetworkLink>> NetworkLink::create(std::string upstream_host,
                                                         int upstream_port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno_error("network link: socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(fd, 128) != 0) {
    Error e = errno_error("network link: bind/listen on 127.0.0.1");
    ::close(fd);
    return e;
  }
  socklen_t len = sizeof(addr);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    Error e = errno_error("network link: getsockname");
    ::close(fd);
    return e;
  }
  const int wake = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake < 0) {
    Error e = errno_error("network link: eventfd");
    ::close(fd);
    return e;
  }
  std::unique_ptr<NetworkLink> link(
      new NetworkLink(fd, wake, ntohs(addr.sin_port), std::move(upstream_host), upstream_port));
  link->thread_ = std::thread([raw = link.get()] { raw->run(); });
  return link;
}

NetworkLink::NetworkLink(int listen_fd, int wake_fd, int port, std::string host, int upstream_port)
    : listen_fd_(listen_fd),
      wake_fd_(wake_fd),
      port_(port),
      upstream_host_(std::move(host)),
      upstream_port_(upstream_port) {}

NetworkLink::~NetworkLink() {
  stopping_ = true;
  wake();
  if (thread_.joinable()) thread_.join();
  ::close(listen_fd_);
  ::close(wake_fd_);
}

void NetworkLink::wake() {
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_fd_, &one, sizeof(one));
}

void NetworkLink::cut() {
  up_ = false;
  cut_pending_ = true;
  wake();
}

void NetworkLink::restore() { up_ = true; }

void NetworkLink::run() {
  std::list<Pair> pairs;
  auto connect_upstream = [this]() -> int {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    const std::string service = std::to_string(upstream_port_);
    if (::getaddrinfo(upstream_host_.c_str(), service.c_str(), &hints, &found) != 0 ||
        found == nullptr) {
      spdlog::warn("network link: cannot resolve {}", upstream_host_);
      return -1;
    }
    int fd = ::socket(found->ai_family, found->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                      found->ai_protocol);
    if (fd >= 0 && ::connect(fd, found->ai_addr, found->ai_addrlen) != 0 && errno != EINPROGRESS) {
      ::close(fd);
      fd = -1;
    }
    ::freeaddrinfo(found);
    if (fd >= 0) {
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    return fd;
  };

  std::vector<pollfd> fds;
  while (!stopping_) {
    if (cut_pending_.exchange(false)) {
      for (Pair& p : pairs) p.dead = true;
    }
    for (auto it = pairs.begin(); it != pairs.end();) {
      if (it->dead) {
        close_fd(it->client);
        close_fd(it->upstream);
        it = pairs.erase(it);
      } else {
        ++it;
      }
    }
    connections_ = pairs.size();

    fds.clear();
    fds.push_back({wake_fd_, POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    for (const Pair& p : pairs) {
      short client_events = 0;
      short upstream_events = 0;
      if (p.to_upstream.size() < kMaxBuffered) client_events |= POLLIN;
      if (!p.to_client.empty()) client_events |= POLLOUT;
      if (p.connecting) {
        upstream_events = POLLOUT;
      } else {
        if (p.to_client.size() < kMaxBuffered) upstream_events |= POLLIN;
        if (!p.to_upstream.empty()) upstream_events |= POLLOUT;
      }
      fds.push_back({p.client, client_events, 0});
      fds.push_back({p.upstream, upstream_events, 0});
    }
    if (::poll(fds.data(), fds.size(), 1000) < 0) {
      if (errno == EINTR) continue;
      spdlog::error("network link: poll failed: {}", std::strerror(errno));
      break;
    }
    if ((fds[0].revents & POLLIN) != 0) {
      std::uint64_t count = 0;
      [[maybe_unused]] const ssize_t n = ::read(wake_fd_, &count, sizeof(count));
      continue;  // re-evaluate cut/stop before touching sockets
    }
    if ((fds[1].revents & POLLIN) != 0) {
      for (;;) {
        const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (client < 0) break;
        if (!up_) {
          ::close(client);  // the cable is out: the connection dies at once
          continue;
        }
        const int one = 1;
        ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        const int upstream = connect_upstream();
        if (upstream < 0) {
          ::close(client);
          continue;
        }
        Pair p;
        p.client = client;
        p.upstream = upstream;
        pairs.push_back(std::move(p));
      }
    }
    std::size_t i = 2;
    for (Pair& p : pairs) {
      if (i + 1 >= fds.size()) break;  // accepted in this pass: polled next time
      const short cr = fds[i].revents;
      const short ur = fds[i + 1].revents;
      i += 2;
      if (p.connecting && (ur & (POLLOUT | POLLERR | POLLHUP)) != 0) {
        int error = 0;
        socklen_t len = sizeof(error);
        ::getsockopt(p.upstream, SOL_SOCKET, SO_ERROR, &error, &len);
        if (error != 0) {
          p.dead = true;  // the broker is down: the client sees its connection closed
          continue;
        }
        p.connecting = false;
      }
      if ((cr & POLLIN) != 0 && !pump_in(p.client, p.to_upstream)) p.dead = true;
      if (!p.connecting && (ur & POLLIN) != 0 && !pump_in(p.upstream, p.to_client)) p.dead = true;
      if (!p.connecting && !pump_out(p.upstream, p.to_upstream)) p.dead = true;
      if (!pump_out(p.client, p.to_client)) p.dead = true;
      if (((cr | (p.connecting ? 0 : ur)) & (POLLERR | POLLNVAL)) != 0) p.dead = true;
      if ((cr & POLLHUP) != 0 && (cr & POLLIN) == 0) p.dead = true;
      if (!p.connecting && (ur & POLLHUP) != 0 && (ur & POLLIN) == 0) p.dead = true;
    }
  }
  for (Pair& p : pairs) {
    close_fd(p.client);
    close_fd(p.upstream);
  }
  connections_ = 0;
}

}  // namespace reclothes::simulator
