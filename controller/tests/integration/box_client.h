// Test doubles on the box side of MQTT: a Paho client that plays a box (publishes events,
// status, state, command results; records acks, commands and configs), and a TCP proxy that can
// freeze a connection without closing it, so the broker notices only through keep-alive.
#pragma once

#include <mqtt/async_client.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "reclothes/common/messages.h"

namespace reclothes::controller::testing {

class FakeBox {
 public:
  struct Options {
    std::chrono::seconds keepalive{10};
    bool will = true;  // last will: retained status online=false
  };
  FakeBox(std::string uri, std::string box_id, Options options);
  FakeBox(std::string uri, std::string box_id)
      : FakeBox(std::move(uri), std::move(box_id), Options{}) {}
  ~FakeBox();

  // Connects and subscribes to acks, commands and config; false on failure.
  bool connect();
  void publish(msg::Topic leaf, const msg::Body& body, bool retained = false);
  void publish_raw(const std::string& topic, const std::string& payload);
  void publish_events(std::vector<msg::Event> events) {
    publish(msg::Topic::kEvents, msg::Events{std::move(events)});
  }
  void set_online(bool online) { publish(msg::Topic::kStatus, msg::Status{online, "1.0.0"}, true); }

  // Waits until a received message satisfies pred; returns it.
  std::optional<msg::Envelope> wait_for(
      msg::Topic leaf, const std::function<bool(const msg::Envelope&)>& pred,
      std::chrono::milliseconds timeout = std::chrono::seconds(10));
  std::optional<std::uint64_t> wait_for_ack(
      std::uint64_t upto, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  std::vector<msg::Envelope> received(msg::Topic leaf);

  const std::string& id() const { return box_id_; }

 private:
  std::string uri_;
  std::string box_id_;
  Options options_;
  std::unique_ptr<mqtt::async_client> client_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<msg::Topic, msg::Envelope>> inbox_;
};

// Forwards one TCP connection at a time between a local port and a target port. freeze() stops
// forwarding in both directions without closing anything.
class FreezableProxy {
 public:
  explicit FreezableProxy(int target_port);
  ~FreezableProxy();
  int port() const { return port_; }
  void freeze() { frozen_ = true; }

 private:
  void run();
  int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> frozen_{false};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

msg::Event event(std::uint64_t seq, msg::EventKind kind,
                 std::optional<int> compartment = std::nullopt);

}  // namespace reclothes::controller::testing
