// NetworkLink: the simulated box's network cable. A TCP relay on a loopback port between the
// box's MQTT client and the broker, so "pull the network" is a real connection loss that the
// firmware's unmodified Sync has to notice and recover from (and the broker publishes the box's
// last will), rather than a polite disconnect.
//
//   cut():     every relayed connection is closed at once and new ones are refused (closed right
//              after accept, as a dead uplink looks to a client: the connect fails).
//   restore(): connections are relayed again; the box's own back-off decides when it reconnects.
//
// The relay is byte-transparent, so it carries TLS too; but the client then checks the broker's
// certificate against 127.0.0.1, which works only if the certificate names that address.
//
// Threading: one relay thread (poll) owns every socket; the methods are thread-safe.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "reclothes/common/result.h"

namespace reclothes::simulator {

struct BrokerAddress {
  std::string scheme;  // "tcp", "ssl", "mqtt", "mqtts", "ws", "wss"
  std::string host;
  int port = 0;
};

// Parses "tcp://host:port" (also ssl, mqtt, mqtts; default ports 1883 / 8883). kInvalidArgument
// naming the problem otherwise.
Result<BrokerAddress> parse_broker_uri(const std::string& uri);

class NetworkLink {
 public:
  // Listens on 127.0.0.1 (a free port) and relays to upstream_host:upstream_port. kIo if the
  // socket cannot be set up.
  static Result<std::unique_ptr<NetworkLink>> create(std::string upstream_host, int upstream_port);
  ~NetworkLink();  // closes everything and joins the thread
  NetworkLink(const NetworkLink&) = delete;
  NetworkLink& operator=(const NetworkLink&) = delete;

  int port() const { return port_; }
  void cut();
  void restore();
  bool up() const { return up_.load(); }
  // Connections relayed right now (both ends open).
  std::size_t connections() const { return connections_.load(); }

 private:
  NetworkLink(int listen_fd, int wake_fd, int port, std::string host, int upstream_port);
  void run();
  void wake();

  int listen_fd_;
  int wake_fd_;  // eventfd: wakes the relay thread for cut() and shutdown
  int port_;
  std::string upstream_host_;
  int upstream_port_;
  std::atomic<bool> up_{true};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> cut_pending_{false};
  std::atomic<std::size_t> connections_{0};
  std::thread thread_;
};

}  // namespace reclothes::simulator
