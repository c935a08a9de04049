// The MQTT bridge (Paho C++ async client, MQTT 3.1.1).
//
// - Persistent session (clean_session = false) with the configured, per-replica client id; the
//   bridge's own supervisor thread (re)connects with back-off, and the connected handler
//   re-subscribes (QoS 1).
// - Subscriptions: events and command-results through the shared subscription
//   ($share/<group>/reclothes/v1/boxes/+/...), so replicas split the load; status and state as
//   plain subscriptions, because brokers do not deliver retained messages to shared
//   subscriptions and every replica may write these idempotent "last known" values.
// - Paho's callback thread only enqueues (bounded queue; it blocks when full, which pushes back
//   through the broker instead of dropping QoS 1 messages); one worker thread applies messages,
//   publishes acks, configs and commands. Nothing waits on a Paho token inside a callback.
// - An events batch the database cannot take (kUnavailable: down, restarting, unreachable) is
//   kept in a bounded in-memory retry list and applied again with a short back-off (0.1 s to
//   1 s) until the database answers; then it is acked. While the list is not empty, new batches
//   join it without an attempt; a retry merges each box's held batches into one (by seq, one
//   copy each), so after an outage one transaction per box catches up.
//   Beyond mqtt.retry_capacity / retry_bytes a batch is dropped: it was never acked, so the box
//   resends it after its ack timeout. A crash loses nothing for the same reason.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "reclothes/common/backoff.h"
#include "reclothes/common/clock.h"
#include "reclothes/common/messages.h"
#include "reclothes/common/result.h"
#include "reclothes/controller/config.h"
#include "reclothes/controller/db.h"
#include "reclothes/controller/events.h"
#include "reclothes/controller/log.h"
#include "reclothes/controller/messaging.h"
#include "reclothes/controller/metrics.h"

namespace mqtt {
class async_client;
class token;
}  // namespace mqtt

namespace reclothes::controller {

class MqttBridge final : public BoxMessaging {
 public:
  struct Deps {
    const ControllerConfig::Mqtt& config;
    Database& db;
    const Clock& clock;
    const EventApplier& events;
    Metrics& metrics;
    const Log& log;
  };

  // kInvalidArgument for a URI Paho refuses.
  static Result<std::unique_ptr<MqttBridge>> create(Deps deps);
  ~MqttBridge() override;

  // Starts the worker and the connection supervisor. Returns at once: the broker may be down;
  // the bridge connects when it can (see connected() and /readyz).
  void start();
  // Disconnects and joins the threads. Idempotent.
  void stop();

  void publish_config(const std::string& box_id) override;
  void publish_all_configs() override;
  void publish_command(const std::string& box_id, const msg::Command& command) override;
  // Connected and every subscription acknowledged by the broker.
  bool connected() const override { return connected_.load() && subscribed_.load(); }
  bool wait_connected(std::chrono::milliseconds timeout) const;
  // True once the worker has nothing queued and no batch waits for the database (tests).
  bool idle() const;
  // Events messages waiting for the database to answer again (after a failed retry, one merged
  // entry per box).
  std::size_t waiting_for_database() const {
    std::lock_guard lock(mu_);
    return deferred_.size();
  }
  // Messages from the broker that arrived with the queue full (the callback never waits), and
  // of those the events batches and state reports it dropped for the boxes to send again.
  std::uint64_t overflowed() const {
    std::lock_guard lock(mu_);
    return overflowed_;
  }
  std::uint64_t shed() const {
    std::lock_guard lock(mu_);
    return shed_;
  }
  // Jobs waiting for the worker (messages from the broker, configs and commands to publish).
  std::size_t queue_depth() const {
    std::lock_guard lock(mu_);
    return queue_.size();
  }

 private:
  struct Job {
    enum class Kind { kMessage, kConfig, kAllConfigs, kPendingConfigs, kCommand };
    Kind kind = Kind::kMessage;
    std::string topic;
    std::string payload;
    std::string box_id;
    msg::Command command;
    std::chrono::steady_clock::time_point queued_at{};  // set by enqueue()
  };

  explicit MqttBridge(Deps deps);
  void enqueue(Job job, bool from_broker);
  void worker_loop();
  void supervisor_loop();
  void subscribe_all();
  void handle_message(const std::string& topic, const std::string& payload);
  // Parses and checks an events message; applies it, or holds it while batches wait for the
  // database (or when this attempt finds the database down).
  void handle_events(const std::string& box_id, const std::string& payload);
  // kDatabaseDown: nothing was applied or acked because the database did not answer.
  enum class EventsOutcome { kDone, kDatabaseDown };
  // Applies one box's batch and acks it (worker thread).
  EventsOutcome apply_events(const std::string& box_id, const msg::Events& batch);
  // Keeps a batch for retry_deferred() (worker thread), or drops it beyond the bounds.
  void defer_events(const std::string& box_id, msg::Events batch, std::size_t bytes);
  // Applies the held batches, merged into one per box, until the database fails again (worker
  // thread).
  void retry_deferred();
  void publish_config_now(const std::string& box_id);
  void publish_command_now(const std::string& box_id, const msg::Command& command);
  // Publishes and waits for the broker's PUBACK (worker thread only). False on failure.
  bool publish_and_wait(const std::string& topic, const std::string& payload, bool retained);

  Deps deps_;
  std::unique_ptr<mqtt::async_client> client_;
  std::atomic<bool> connected_{false};
  std::atomic<bool> subscribed_{false};
  // Subscribe tokens of the current connection; the supervisor (not a callback) watches them.
  std::mutex subs_mu_;
  std::vector<std::shared_ptr<mqtt::token>> pending_subs_;
  std::atomic<bool> stopping_{false};
  bool started_ = false;

  mutable std::mutex mu_;
  std::condition_variable cv_work_;
  mutable std::condition_variable cv_state_;
  std::deque<Job> queue_;
  std::uint64_t overflowed_ = 0;  // messages that arrived with the queue full (guarded by mu_)
  std::uint64_t shed_ = 0;        // of those, events batches and state reports dropped
  bool busy_ = false;
  // Events batches the database did not take, oldest first (guarded by mu_; only the worker
  // changes them), their payload bytes, and when the worker tries them next.
  struct Deferred {
    std::string box_id;
    msg::Events batch;
    std::size_t bytes = 0;  // the payload's size as it came (what retry_bytes bounds)
  };
  std::deque<Deferred> deferred_;
  std::size_t deferred_bytes_ = 0;
  std::chrono::steady_clock::time_point retry_at_;
  Backoff retry_backoff_{std::chrono::milliseconds(100), std::chrono::milliseconds(1000)};
  std::uint64_t dropped_while_down_ = 0;  // this outage's drops (worker thread)
  std::thread worker_;
  std::thread supervisor_;
};

}  // namespace reclothes::controller
