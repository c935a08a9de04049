// A stand-in for the controller in the sync integration tests: a real Paho client on the real
// broker that subscribes to one box's outbound leaves, applies events the way the controller does
// (in seq order, each (box, seq) once, a batch that starts beyond applied_upto + 1 is not applied)
// and acknowledges cumulatively. It records everything, duplicates included, so tests can check
// order, gaps and that a resent seq always carries the same event.
//
// Paho C runs one receive thread for all clients of a process, and it adds a newly connecting
// socket only when its select() wakes up: with another client connected and idle, a connect
// takes about 2 s. In-process tests (Sync and this controller in one process) therefore keep the
// receive thread busy: every 20 ms the controller publishes a QoS 1 tick to a topic nobody
// subscribes to, and the broker's PUBACK wakes the thread. That brings connects down to tens of
// milliseconds. A box process has a single client and does not need this.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <mqtt/async_client.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "reclothes/common/messages.h"

namespace reclothes::firmware::testing {

class TestController {
 public:
  struct Options {
    std::string uri;
    std::string box_id;
    std::string client_id = "test-controller";
    bool ack = true;  // false: record only (the box then keeps resending)
  };

  explicit TestController(Options options)
      : options_(std::move(options)),
        client_(options_.uri, options_.client_id, mqtt::create_options(MQTTVERSION_3_1_1, 10000)) {
    client_.set_message_callback([this](mqtt::const_message_ptr m) { on_message(m); });
    client_.set_connection_lost_handler([this](const std::string&) {
      std::lock_guard lock(mu_);
      lost_at_ = std::chrono::steady_clock::now();
    });
    client_.set_connected_handler([this](const std::string&) {
      // Re-subscribing on every connect makes a lost broker session harmless (no wait here:
      // never block inside a Paho callback).
      try {
        for (msg::Topic leaf : {msg::Topic::kEvents, msg::Topic::kCommandResults,
                                msg::Topic::kStatus, msg::Topic::kState}) {
          client_.subscribe(msg::topic(options_.box_id, leaf), 1);
        }
      } catch (const mqtt::exception&) {
      }
    });
  }

  ~TestController() {
    stop_ticker_ = true;
    work_cv_.notify_one();
    if (ticker_.joinable()) ticker_.join();
    try {
      if (client_.is_connected()) client_.disconnect()->wait_for(std::chrono::seconds(2));
    } catch (const mqtt::exception&) {
    }
  }

  // Connects with a persistent session and keeps reconnecting (a thread of its own, below).
  // Returns false if the broker did not answer in time.
  bool connect(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    connect_options_ = mqtt::connect_options_builder()
                           .clean_session(false)
                           .keep_alive_interval(std::chrono::seconds(5))
                           .finalize();
    try {
      auto token = client_.connect(connect_options_);
      if (!token->wait_for(timeout)) return false;
    } catch (const mqtt::exception& e) {
      ADD_FAILURE() << "test controller cannot connect: " << e.what();
      return false;
    }
    // The connected handler subscribed; wait until the broker holds the subscriptions.
    if (!wait_until([&] { return client_.is_connected(); }, timeout) ||
        !subscribe_and_wait(timeout)) {
      return false;
    }
    // Our own thread sends the acks (never from inside a Paho callback), the ticks, and
    // reconnects (every 20 ms while the broker is away): Paho's automatic reconnect counts in
    // whole seconds, which would make broker-restart tests slow.
    ticker_ = std::thread([this] {
      auto last_tick = std::chrono::steady_clock::now();
      while (!stop_ticker_) {
        try {
          if (client_.is_connected()) {
            if (options_.ack) send_ack();
            if (std::chrono::steady_clock::now() - last_tick >= std::chrono::milliseconds(20)) {
              last_tick = std::chrono::steady_clock::now();
              client_.publish(tick_topic(), "t", 1, 1, false);
            }
          } else if (lost_for() >= std::chrono::milliseconds(200) && broker_listening()) {
            // Only when the broker is back: a connect to a closed port is reported by Paho only
            // after its receive thread's next cycle (about a second). And not right after the
            // loss, while Paho may still be tearing the old connection down.
            client_.connect(connect_options_)->wait_for(std::chrono::seconds(1));
          }
        } catch (const mqtt::exception&) {
        }
        std::unique_lock lock(mu_);
        work_cv_.wait_for(lock, std::chrono::milliseconds(20));
      }
    });
    return true;
  }

  void publish_raw(msg::Topic leaf, std::string payload, bool retained = false) {
    client_
        .publish(
            mqtt::make_message(msg::topic(options_.box_id, leaf), std::move(payload), 1, retained))
        ->wait_for(std::chrono::seconds(5));
  }
  void publish(msg::Body body, std::int64_t ts_ms, bool retained = false) {
    const msg::Topic leaf = msg::topic_for(msg::type_of(body));
    auto payload = msg::serialize(msg::make_envelope(options_.box_id, ts_ms, std::move(body)));
    ASSERT_TRUE(payload.ok()) << payload.error().to_string();
    publish_raw(leaf, *payload, retained);
  }

  bool connected() const { return client_.is_connected(); }

  // ---- what was received ----
  std::uint64_t applied_upto() const {
    std::lock_guard lock(mu_);
    return applied_upto_;
  }
  // The first copy of every applied seq.
  std::map<std::uint64_t, msg::Event> applied() const {
    std::lock_guard lock(mu_);
    return applied_;
  }
  // Every event received, duplicates included, in arrival order.
  std::vector<msg::Event> received() const {
    std::lock_guard lock(mu_);
    return received_;
  }
  // Wall-clock time (Unix ms) each seq first arrived.
  std::map<std::uint64_t, std::int64_t> first_arrival_ms() const {
    std::lock_guard lock(mu_);
    return first_arrival_ms_;
  }
  static std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  std::vector<msg::CommandResult> results() const {
    std::lock_guard lock(mu_);
    return results_;
  }
  std::vector<msg::Status> statuses() const {
    std::lock_guard lock(mu_);
    return statuses_;
  }
  std::optional<msg::State> last_state() const {
    std::lock_guard lock(mu_);
    return last_state_;
  }
  // Contract violations seen: unparsable payloads, a seq resent with different content.
  std::vector<std::string> problems() const {
    std::lock_guard lock(mu_);
    return problems_;
  }

  bool wait_applied(std::uint64_t upto, std::chrono::milliseconds timeout) {
    return wait_until([&] { return applied_upto() >= upto; }, timeout);
  }
  template <typename Pred>
  bool wait_until(Pred pred, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
  }

 private:
  bool subscribe_and_wait(std::chrono::milliseconds timeout) {
    try {
      for (msg::Topic leaf : {msg::Topic::kEvents, msg::Topic::kCommandResults, msg::Topic::kStatus,
                              msg::Topic::kState}) {
        if (!client_.subscribe(msg::topic(options_.box_id, leaf), 1)->wait_for(timeout)) {
          return false;
        }
      }
    } catch (const mqtt::exception& e) {
      ADD_FAILURE() << "test controller cannot subscribe: " << e.what();
      return false;
    }
    return true;
  }

  std::chrono::steady_clock::duration lost_for() const {
    std::lock_guard lock(mu_);
    if (!lost_at_) return std::chrono::steady_clock::duration::zero();
    return std::chrono::steady_clock::now() - *lost_at_;
  }

  // A plain TCP connect to the broker's port (from "tcp://host:port"): immediate on loopback.
  bool broker_listening() const {
    const auto colon = options_.uri.rfind(':');
    if (colon == std::string::npos) return true;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(std::stoi(options_.uri.substr(colon + 1))));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    const bool ok = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0;
    ::close(fd);
    return ok;
  }

  std::string tick_topic() const { return "reclothes-test/tick/" + options_.client_id; }

  void on_message(const mqtt::const_message_ptr& m) {
    auto envelope = msg::parse_received(m->get_topic(), m->get_payload_str());
    std::lock_guard lock(mu_);
    if (!envelope.ok()) {
      problems_.push_back("unparsable message on " + m->get_topic() + ": " +
                          envelope.error().to_string());
      return;
    }
    if (auto* events = std::get_if<msg::Events>(&envelope->body)) {
      on_events(*events);
    } else if (auto* result = std::get_if<msg::CommandResult>(&envelope->body)) {
      results_.push_back(*result);
    } else if (auto* status = std::get_if<msg::Status>(&envelope->body)) {
      statuses_.push_back(*status);
    } else if (auto* state = std::get_if<msg::State>(&envelope->body)) {
      last_state_ = *state;
    }
  }

  // Called with mu_ held.
  void on_events(const msg::Events& batch) {
    for (const msg::Event& e : batch.events) {
      received_.push_back(e);
      first_arrival_ms_.emplace(e.seq, now_ms());
      auto [it, inserted] = seen_.emplace(e.seq, e);
      if (!inserted && !(it->second == e)) {
        problems_.push_back("seq " + std::to_string(e.seq) + " was sent with different content");
      }
    }
    const std::uint64_t first = batch.events.front().seq;
    const std::uint64_t last = batch.events.back().seq;
    if (first > applied_upto_ + 1) return;  // a gap before it: not applied, the box resends
    for (const msg::Event& e : batch.events) {
      if (e.seq > applied_upto_) applied_.emplace(e.seq, e);
    }
    if (last > applied_upto_) applied_upto_ = last;
    // Acked from our own thread, never from inside Paho's callback.
    if (options_.ack) work_cv_.notify_one();
  }

  // Publishes the cumulative ack if it moved. Called by the worker thread.
  void send_ack() {
    std::uint64_t upto = 0;
    {
      std::lock_guard lock(mu_);
      if (applied_upto_ == acked_sent_) return;
      upto = applied_upto_;
    }
    auto payload = msg::serialize(msg::make_envelope(options_.box_id, 0, msg::Ack{upto}));
    if (!payload.ok()) return;
    try {
      client_.publish(
          mqtt::make_message(msg::topic(options_.box_id, msg::Topic::kAcks), *payload, 1, false));
      std::lock_guard lock(mu_);
      acked_sent_ = upto;
    } catch (const mqtt::exception&) {
      // Disconnected: tried again after the reconnect.
    }
  }

  Options options_;
  mqtt::async_client client_;
  mqtt::connect_options connect_options_;
  std::optional<std::chrono::steady_clock::time_point> lost_at_;  // guarded by mu_
  std::thread ticker_;
  std::atomic<bool> stop_ticker_{false};
  mutable std::mutex mu_;
  std::uint64_t applied_upto_ = 0;
  std::uint64_t acked_sent_ = 0;
  std::condition_variable work_cv_;
  std::map<std::uint64_t, msg::Event> applied_;
  std::map<std::uint64_t, msg::Event> seen_;
  std::map<std::uint64_t, std::int64_t> first_arrival_ms_;
  std::vector<msg::Event> received_;
  std::vector<msg::CommandResult> results_;
  std::vector<msg::Status> statuses_;
  std::optional<msg::State> last_state_;
  std::vector<std::string> problems_;
};

}  // namespace reclothes::firmware::testing
