#include "reclothes/simulator/pooled_sync.h"

#include <mqtt/async_client.h>
#include <spdlog/spdlog.h>

namespace reclothes::simulator {

namespace {

// Inbound messages waiting for the worker, at most (as firmware::Sync: QoS 1 has acknowledged
// them already; acks are cumulative and the config is retained, so a drop is not fatal).
constexpr std::size_t kMaxReceivedMessages = 1024;
constexpr std::size_t kMaxReceivedBytes = 4 * 1024 * 1024;
// Rounds of engine.poll() per call when it has more to send.
constexpr int kMaxSendRounds = 4;

std::string describe(const mqtt::exception& e) {
  std::string text = e.what();
  if (text.empty()) text = "MQTT error " + std::to_string(e.get_return_code());
  return text;
}

}  // namespace

class PooledSync::Transport final : public firmware::SyncTransport {
 public:
  explicit Transport(mqtt::async_client& client) : client_(client) {}

  // No is_connected() check first (firmware::Sync does one): every call into the Paho C library
  // takes its one process-wide mutex, which thousands of clients share. A publish while
  // disconnected fails by itself, and the error says so.
  reclothes::Status publish(const std::string& topic, std::string payload, bool retained) override {
    try {
      client_.publish(mqtt::make_message(topic, std::move(payload), 1, retained));
      return ok_status();
    } catch (const mqtt::exception& e) {
      return to_error(e, "publish to " + topic);
    }
  }

  reclothes::Status subscribe(const std::string& topic) override {
    try {
      client_.subscribe(topic, 1);
      return ok_status();
    } catch (const mqtt::exception& e) {
      return to_error(e, "subscribe to " + topic);
    }
  }

 private:
  static Error to_error(const mqtt::exception& e, const std::string& what) {
    const ErrorCode code = e.get_return_code() == MQTTASYNC_MAX_BUFFERED_MESSAGES
                               ? ErrorCode::kResourceExhausted
                               : ErrorCode::kUnavailable;
    return make_error(code, what + ": " + describe(e));
  }
  mqtt::async_client& client_;
};

PooledSync::PooledSync(firmware::SyncOptions options, firmware::Journal& journal,
                       firmware::Mailbox& mailbox, const Clock& clock,
                       std::unique_ptr<firmware::SyncEngine> engine, std::function<void()> wake)
    : options_(std::move(options)),
      journal_(journal),
      mailbox_(mailbox),
      clock_(clock),
      engine_(std::move(engine)),
      wake_(std::move(wake)),
      backoff_(options_.reconnect_min, options_.reconnect_max, 0.2,
               static_cast<std::uint32_t>(std::hash<std::string>{}(options_.client_id))),
      next_attempt_(clock.monotonic()) {}

Result<std::unique_ptr<PooledSync>> PooledSync::create(firmware::SyncOptions options,
                                                       firmware::Journal& journal,
                                                       firmware::Mailbox& mailbox,
                                                       const Clock& clock,
                                                       std::function<void()> wake) {
  RC_TRY(firmware::validate(options));
  if (options.client_id.empty()) options.client_id = options.engine.box_id;
  RC_ASSIGN_OR_RETURN(std::unique_ptr<firmware::SyncEngine> engine,
                      firmware::SyncEngine::create(options.engine, journal, mailbox, clock));
  std::unique_ptr<PooledSync> sync(new PooledSync(std::move(options), journal, mailbox, clock,
                                                  std::move(engine), std::move(wake)));
  RC_TRY(sync->build_client());
  return sync;
}

Status PooledSync::build_client() {
  try {
    mqtt::create_options create(MQTTVERSION_3_1_1, options_.max_buffered_messages);
    client_ = std::make_unique<mqtt::async_client>(options_.broker_uri, options_.client_id, create);
  } catch (const mqtt::exception& e) {
    return make_error(ErrorCode::kInvalidArgument, "cannot create an MQTT client for " +
                                                       options_.broker_uri + ": " + describe(e));
  }
  // Callbacks copy and wake; never block or call back into Paho here.
  client_->set_message_callback([this](mqtt::const_message_ptr message) {
    if (!message) return;
    {
      std::lock_guard lock(mu_);
      const std::size_t size = message->get_payload_ref().size();
      if (received_.size() >= kMaxReceivedMessages || received_bytes_ + size > kMaxReceivedBytes) {
        return;
      }
      received_.push_back(Received{message->get_topic(), message->get_payload_str()});
      received_bytes_ += size;
    }
    work_ = true;
    if (wake_) wake_();
  });
  client_->set_connection_lost_handler([this](const std::string&) {
    {
      std::lock_guard lock(mu_);
      lost_ = true;
    }
    work_ = true;
    if (wake_) wake_();
  });
  transport_ = std::make_unique<Transport>(*client_);
  return ok_status();
}

PooledSync::~PooledSync() {
  stop(false);
  // Once the disconnect is done nothing more arrives. Then the client goes first, while the queue
  // and mutex its callbacks use still exist (members are destroyed after this body, in reverse
  // order, and client_ is declared before them). Paho refuses to change callbacks while a
  // disconnect is still in progress, so they are not touched.
  wait_disconnected(std::chrono::milliseconds(500));
  try {
    client_.reset();
  } catch (const mqtt::exception& e) {
    spdlog::debug("{}: destroying the MQTT client: {}", options_.client_id, describe(e));
  }
}

Status PooledSync::start_connect() {
  mqtt::connect_options options;
  options.set_mqtt_version(MQTTVERSION_3_1_1);
  options.set_clean_session(false);
  options.set_keep_alive_interval(options_.keepalive);
  options.set_connect_timeout(options_.connect_timeout);
  options.set_automatic_reconnect(false);
  if (options_.username) options.set_user_name(*options_.username);
  if (options_.password) options.set_password(*options_.password);
  if (options_.tls) {
    mqtt::ssl_options ssl;
    if (!options_.tls->trust_store.empty()) ssl.set_trust_store(options_.tls->trust_store);
    if (!options_.tls->key_store.empty()) ssl.set_key_store(options_.tls->key_store);
    if (!options_.tls->private_key.empty()) ssl.set_private_key(options_.tls->private_key);
    ssl.set_enable_server_cert_auth(options_.tls->verify_server);
    ssl.set_verify(options_.tls->verify_server);
    options.set_ssl(std::move(ssl));
  }
  RC_ASSIGN_OR_RETURN(std::string will, engine_->will_payload());
  options.set_will(mqtt::will_options(engine_->will_topic(), will, 1, true));
  {
    std::lock_guard lock(mu_);
    lost_ = false;
  }
  try {
    connecting_ = client_->connect(options);
  } catch (const mqtt::exception& e) {
    return make_error(ErrorCode::kUnavailable, describe(e));
  }
  return ok_status();
}

void PooledSync::finish_connect() {
  bool up = false;
  std::string why;
  try {
    up = connecting_->try_wait();
  } catch (const mqtt::exception& e) {
    why = describe(e);
  }
  connecting_.reset();
  if (up) {
    backoff_.reset();
    logged_down_ = false;
    connected_ = true;
    engine_->on_connected(*transport_);
    return;
  }
  const auto delay = backoff_.next();
  next_attempt_ = clock_.monotonic() + delay;
  if (!logged_down_) {
    spdlog::warn("{}: cannot connect to {}: {}; retrying with back-off", options_.client_id,
                 options_.broker_uri, why);
    logged_down_ = true;
  }
}

bool PooledSync::poll() {
  if (stopped_) return false;
  work_ = false;
  if (connecting_) {
    if (!connecting_->is_complete()) return false;
    finish_connect();
  } else if (!engine_->connected() && clock_.monotonic() >= next_attempt_) {
    if (Status s = start_connect(); !s.ok()) {
      next_attempt_ = clock_.monotonic() + backoff_.next();
    }
    return false;
  }

  std::deque<Received> received;
  bool lost = false;
  {
    std::lock_guard lock(mu_);
    received.swap(received_);
    received_bytes_ = 0;
    lost = lost_;
    lost_ = false;
  }
  for (const Received& m : received) engine_->on_message(*transport_, m.topic, m.payload);
  // The callback is the usual signal; is_connected() (Paho's global mutex again) covers a loss that
  // raced with the connect, and is asked at most once a second.
  bool gone = lost;
  if (!gone && engine_->connected() && clock_.monotonic() >= next_liveness_check_) {
    next_liveness_check_ = clock_.monotonic() + std::chrono::seconds(1);
    gone = !client_->is_connected();
  }
  if (engine_->connected() && gone) {
    engine_->on_disconnected();
    connected_ = false;
    next_attempt_ = clock_.monotonic() + backoff_.next();
  }
  bool more = false;
  for (int round = 0; round < kMaxSendRounds; ++round) {
    more = engine_->poll(*transport_);
    if (!more) break;
  }
  {
    std::lock_guard lock(mu_);
    stats_ = engine_->stats();
  }
  return more;
}

void PooledSync::stop(bool clean) {
  if (stopped_) return;
  stopped_ = true;
  if (client_ && client_->is_connected()) {
    try {
      if (clean) {
        if (Status s = engine_->publish_offline(*transport_); !s.ok()) {
          spdlog::debug("{}: cannot publish offline: {}", options_.client_id, s.error().message);
        }
        disconnecting_ = client_->disconnect(1000);
      } else {
        disconnecting_ = client_->disconnect(0);
      }
    } catch (const mqtt::exception& e) {
      spdlog::debug("{}: disconnect failed: {}", options_.client_id, describe(e));
    }
  }
  engine_->on_disconnected();
  connected_ = false;
  std::lock_guard lock(mu_);
  stats_ = engine_->stats();
}

bool PooledSync::wait_disconnected(std::chrono::milliseconds timeout) {
  if (!disconnecting_) return true;
  try {
    return disconnecting_->wait_for(timeout);
  } catch (const mqtt::exception&) {
    return true;  // it ended, if not gracefully
  }
}

firmware::SyncStats PooledSync::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace reclothes::simulator
