// Acker: the controller's side of the outbox without a controller. A Paho client that subscribes
// to boxes' events, applies each box's batches the way the controller does (in seq order, a batch
// after a gap is not applied) and answers every batch with a cumulative ack, so the boxes' journals
// drain. No database, no REST, nothing else of the controller.
//
// Who uses it: `reclothes-sim fleet --ack` (a product feature: a fleet whose backlogs drain on a
// bare broker), bench B3 (the drain's other end, in a child process) and the firmware's sync
// integration tests (test_controller.h, which also records what it sees through the observer).
// It is its own small target (reclothes::acker: common and Paho only) so that tests and benchmarks
// outside the simulator may link it without the simulator's web server and scenario engine.
//
// Threads: Paho's callback only queues what arrives; one thread of the acker's own parses,
// observes and acks, so nothing blocks inside Paho and the observer needs no Paho knowledge.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "reclothes/common/messages.h"
#include "reclothes/common/result.h"

namespace mqtt {
class async_client;
}  // namespace mqtt

namespace reclothes::simulator {

// The controller's rule for each box's events, as plain bookkeeping (docs/mqtt-contract.md, "Sync
// protocol"): a batch that continues what was applied (first seq <= applied + 1) moves `applied`
// to its last seq; a batch after a gap is not applied, and the box resends from its last acked
// seq + 1. Not thread-safe.
class AckLedger {
 public:
  // What one batch did: events with before < seq <= after were applied by it.
  struct Step {
    std::uint64_t before = 0;
    std::uint64_t after = 0;
  };
  Step apply(const std::string& box_id, const msg::Events& batch);
  std::uint64_t applied(const std::string& box_id) const;

 private:
  std::map<std::string, std::uint64_t, std::less<>> applied_;
};

class Acker {
 public:
  struct Options {
    std::string uri{};  // tcp://host:port
    // Empty: "reclothes-acker-<pid>".
    std::string client_id{};
    // Topic filters, QoS 1. Empty: every box's events.
    std::vector<std::string> topics{};
    // False: observe only (the boxes then keep resending after their ack timeout).
    bool ack = true;
    // False: a persistent session, so messages published while the acker is away wait for it.
    bool clean_session = true;
    std::chrono::seconds keepalive{30};
    std::chrono::seconds connect_timeout{10};
    // Called on the acker's thread for every message that parses, before its ack is sent; `step`
    // is set for an events batch. May be empty.
    std::function<void(const msg::Envelope& envelope, const AckLedger::Step* step)> on_message{};
    // Called on the acker's thread for a payload that does not parse (after it is logged).
    std::function<void(const std::string& topic, const Error& error)> on_rejected{};
  };

  // Connects, subscribes and waits for the broker to confirm. kUnavailable naming the broker if
  // that fails.
  static Result<std::unique_ptr<Acker>> start(Options options);
  ~Acker();  // stop()
  Acker(const Acker&) = delete;
  Acker& operator=(const Acker&) = delete;

  // Stops the thread and disconnects. Idempotent; not from the observer.
  void stop();

  // Publishes one QoS 1 message (a command, a config, ...) and waits up to `wait` for the broker
  // to take it (zero: queued only). Any thread.
  Status publish(const std::string& topic, std::string payload, bool retained = false,
                 std::chrono::milliseconds wait = std::chrono::milliseconds(0));
  bool connected() const;
  // Connects again after a lost connection and waits up to `timeout`; the subscriptions are
  // renewed on every connect. kUnavailable on failure or timeout. Any thread.
  Status reconnect(std::chrono::milliseconds timeout);

  std::uint64_t events() const { return events_.load(); }  // received, duplicates included
  std::uint64_t acks() const { return acks_.load(); }
  std::uint64_t rejected() const { return rejected_.load(); }

 private:
  explicit Acker(Options options);
  Status connect_and_subscribe();
  void run();
  void handle(const std::string& topic, const std::string& payload);

  Options options_;
  std::unique_ptr<mqtt::async_client> client_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;                                  // guarded by mu_
  std::deque<std::pair<std::string, std::string>> queue_;  // guarded by mu_
  AckLedger ledger_;                                       // the acker's thread only
  std::atomic<std::uint64_t> events_{0};
  std::atomic<std::uint64_t> acks_{0};
  std::atomic<std::uint64_t> rejected_{0};
};

}  // namespace reclothes::simulator
