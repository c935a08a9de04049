// A stand-in for the controller in the sync integration tests: simulator::Acker (the one acker of
// the tree: the fleet's --ack and bench B3 use it too) on the real broker, subscribed to one box's
// outbound leaves with a persistent session. It applies events the way the controller does (in seq
// order, each (box, seq) once, a batch that starts beyond applied_upto + 1 is not applied) and
// acknowledges cumulatively; this class records everything through the acker's observer,
// duplicates included, so tests can check order, gaps and that a resent seq always carries the
// same event.
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
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "reclothes/common/messages.h"
#include "reclothes/simulator/acker.h"

namespace reclothes::firmware::testing {

class TestController {
 public:
  struct Options {
    std::string uri;
    std::string box_id;
    std::string client_id = "test-controller";
    bool ack = true;  // false: record only (the box then keeps resending)
  };

  explicit TestController(Options options) : options_(std::move(options)) {}

  ~TestController() {
    {
      std::lock_guard lock(mu_);
      stop_ticker_ = true;
    }
    ticker_cv_.notify_one();
    if (ticker_.joinable()) ticker_.join();
    if (acker_) acker_->stop();
  }

  // Connects with a persistent session and keeps reconnecting (a thread of its own, below).
  // Returns false if the broker did not answer in time.
  bool connect() {
    simulator::Acker::Options o;
    o.uri = options_.uri;
    o.client_id = options_.client_id;
    for (msg::Topic leaf : {msg::Topic::kEvents, msg::Topic::kCommandResults, msg::Topic::kStatus,
                            msg::Topic::kState}) {
      o.topics.push_back(msg::topic(options_.box_id, leaf));
    }
    o.ack = options_.ack;
    o.clean_session = false;
    o.keepalive = std::chrono::seconds(5);
    o.on_message = [this](const msg::Envelope& e, const simulator::AckLedger::Step* step) {
      record(e, step);
    };
    o.on_rejected = [this](const std::string& topic, const Error& error) {
      std::lock_guard lock(mu_);
      problems_.push_back("unparsable message on " + topic + ": " + error.to_string());
    };
    auto acker = simulator::Acker::start(std::move(o));
    if (!acker.ok()) {
      ADD_FAILURE() << "test controller: " << acker.error().to_string();
      return false;
    }
    acker_ = std::move(acker).value();
    // Our own thread sends the ticks and reconnects (every 20 ms while the broker is away):
    // Paho's automatic reconnect counts in whole seconds, which would make broker-restart tests
    // slow.
    ticker_ = std::thread([this] { tick_and_reconnect(); });
    return true;
  }

  void publish_raw(msg::Topic leaf, std::string payload, bool retained = false) {
    const Status s = acker_->publish(msg::topic(options_.box_id, leaf), std::move(payload),
                                     retained, std::chrono::seconds(5));
    EXPECT_TRUE(s.ok()) << s.error().to_string();
  }
  void publish(msg::Body body, std::int64_t ts_ms, bool retained = false) {
    const msg::Topic leaf = msg::topic_for(msg::type_of(body));
    auto payload = msg::serialize(msg::make_envelope(options_.box_id, ts_ms, std::move(body)));
    ASSERT_TRUE(payload.ok()) << payload.error().to_string();
    publish_raw(leaf, *payload, retained);
  }

  bool connected() const { return acker_ && acker_->connected(); }

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

  // Waits until the last status the box published says `online` (false: its clean stop's status
  // or its last will).
  bool wait_status(bool online, std::chrono::milliseconds timeout) {
    return wait_until(
        [&] {
          const std::vector<msg::Status> seen = statuses();
          return !seen.empty() && seen.back().online == online;
        },
        timeout);
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
  // The ticker thread: a tick every 20 ms while connected; while not, a reconnect as soon as the
  // broker listens again.
  void tick_and_reconnect() {
    std::optional<std::chrono::steady_clock::time_point> down_since;
    for (;;) {
      {
        std::unique_lock lock(mu_);
        if (ticker_cv_.wait_for(lock, std::chrono::milliseconds(20),
                                [this] { return stop_ticker_; })) {
          return;
        }
      }
      const auto now = std::chrono::steady_clock::now();
      if (acker_->connected()) {
        down_since.reset();
        (void)acker_->publish(tick_topic(), "t");
      } else if (!down_since) {
        down_since = now;
      } else if (now - *down_since >= std::chrono::milliseconds(200) && broker_listening()) {
        // Only when the broker is back: a connect to a closed port is reported by Paho only
        // after its receive thread's next cycle (about a second). And not right after the loss,
        // while Paho may still be tearing the old connection down.
        (void)acker_->reconnect(std::chrono::seconds(1));
      }
    }
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

  // The acker's thread, before it acks.
  void record(const msg::Envelope& envelope, const simulator::AckLedger::Step* step) {
    std::lock_guard lock(mu_);
    if (auto* events = std::get_if<msg::Events>(&envelope.body); events != nullptr && step) {
      on_events(*events, *step);
    } else if (auto* result = std::get_if<msg::CommandResult>(&envelope.body)) {
      results_.push_back(*result);
    } else if (auto* status = std::get_if<msg::Status>(&envelope.body)) {
      statuses_.push_back(*status);
    } else if (auto* state = std::get_if<msg::State>(&envelope.body)) {
      last_state_ = *state;
    }
  }

  // Called with mu_ held. The step says which seqs this batch applied: before < seq <= after.
  void on_events(const msg::Events& batch, const simulator::AckLedger::Step& step) {
    for (const msg::Event& e : batch.events) {
      received_.push_back(e);
      first_arrival_ms_.emplace(e.seq, now_ms());
      auto [it, inserted] = seen_.emplace(e.seq, e);
      if (!inserted && !(it->second == e)) {
        problems_.push_back("seq " + std::to_string(e.seq) + " was sent with different content");
      }
      if (e.seq > step.before && e.seq <= step.after) applied_.emplace(e.seq, e);
    }
    applied_upto_ = step.after;
  }

  Options options_;
  std::unique_ptr<simulator::Acker> acker_;
  std::thread ticker_;
  std::condition_variable ticker_cv_;
  mutable std::mutex mu_;
  bool stop_ticker_ = false;  // guarded by mu_
  std::uint64_t applied_upto_ = 0;
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
