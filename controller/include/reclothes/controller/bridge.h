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
  // True once the worker has nothing queued (tests).
  bool idle() const;
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

 private:
  struct Job {
    enum class Kind { kMessage, kConfig, kAllConfigs, kPendingConfigs, kCommand };
    Kind kind = Kind::kMessage;
    std::string topic;
    std::string payload;
    std::string box_id;
    msg::Command command;
  };

  explicit MqttBridge(Deps deps);
  void enqueue(Job job, bool from_broker);
  void worker_loop();
  void supervisor_loop();
  void subscribe_all();
  void handle_message(const std::string& topic, const std::string& payload);
  void handle_events(const std::string& box_id, const std::string& payload);
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
  std::thread worker_;
  std::thread supervisor_;
};

}  // namespace reclothes::controller
