#include "reclothes/firmware/sync.h"

#include <mqtt/async_client.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <functional>
#include <system_error>

namespace reclothes::firmware {

namespace {

// Inbound messages waiting for the worker, at most; a flood beyond this is dropped with a log
// line (QoS 1 has acknowledged it already: the controller retries commands, acks are cumulative
// and the config is retained, so nothing is lost for good).
constexpr std::size_t kMaxReceivedMessages = 2048;
constexpr std::size_t kMaxReceivedBytes = 16 * 1024 * 1024;

std::string describe(const mqtt::exception& e) {
  std::string text = e.what();
  if (text.empty()) text = "MQTT error " + std::to_string(e.get_return_code());
  return text;
}

Status check_file(const std::string& path, const char* what) {
  if (path.empty()) return ok_status();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return make_error(ErrorCode::kInvalidArgument, std::string("sync: TLS ") + what + " \"" + path +
                                                       "\" is not a readable file");
  }
  return ok_status();
}

}  // namespace

Status validate(const SyncOptions& options) {
  const std::string& uri = options.broker_uri;
  const bool tcp = uri.rfind("tcp://", 0) == 0 || uri.rfind("mqtt://", 0) == 0;
  const bool ssl = uri.rfind("ssl://", 0) == 0 || uri.rfind("mqtts://", 0) == 0;
  if (!tcp && !ssl) {
    return make_error(ErrorCode::kInvalidArgument,
                      "sync: broker uri \"" + uri + "\" must start with tcp:// or ssl://");
  }
  if (ssl && !options.tls.has_value()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "sync: broker uri \"" + uri + "\" is ssl:// but no TLS options are set");
  }
  if (options.tls.has_value()) {
    RC_TRY(check_file(options.tls->trust_store, "trust store"));
    RC_TRY(check_file(options.tls->key_store, "key store"));
    RC_TRY(check_file(options.tls->private_key, "private key"));
  }
  if (options.keepalive < std::chrono::seconds(1) || options.keepalive > std::chrono::hours(18)) {
    return make_error(ErrorCode::kInvalidArgument, "sync: keepalive must be 1 s .. 18 h");
  }
  if (options.connect_timeout < std::chrono::seconds(1)) {
    return make_error(ErrorCode::kInvalidArgument, "sync: connect_timeout must be >= 1 s");
  }
  if (options.reconnect_min <= std::chrono::milliseconds(0) ||
      options.reconnect_max < options.reconnect_min) {
    return make_error(ErrorCode::kInvalidArgument,
                      "sync: reconnect back-off needs 0 < reconnect_min <= reconnect_max");
  }
  if (options.idle_tick <= std::chrono::milliseconds(0) ||
      options.idle_tick > std::chrono::seconds(5)) {
    return make_error(ErrorCode::kInvalidArgument, "sync: idle_tick must be 1 ms .. 5 s");
  }
  if (options.max_buffered_messages < 16) {
    return make_error(ErrorCode::kInvalidArgument, "sync: max_buffered_messages must be >= 16");
  }
  if (options.password.has_value() && !options.username.has_value()) {
    return make_error(ErrorCode::kInvalidArgument, "sync: a password needs a username");
  }
  return ok_status();
}

// SyncTransport over the Paho client. Used by the worker thread only.
class Sync::PahoTransport final : public SyncTransport {
 public:
  explicit PahoTransport(mqtt::async_client& client) : client_(client) {}

  reclothes::Status publish(const std::string& topic, std::string payload, bool retained) override {
    if (!client_.is_connected()) {
      return make_error(ErrorCode::kUnavailable, "not connected to the broker");
    }
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

Sync::Sync(SyncOptions options, Journal& journal, Mailbox& mailbox, const Clock& clock,
           std::unique_ptr<SyncEngine> engine)
    : options_(std::move(options)),
      journal_(journal),
      mailbox_(mailbox),
      clock_(clock),
      engine_(std::move(engine)),
      backoff_(options_.reconnect_min, options_.reconnect_max, 0.2,
               static_cast<std::uint32_t>(std::hash<std::string>{}(options_.client_id))) {}

Result<std::unique_ptr<Sync>> Sync::create(SyncOptions options, Journal& journal, Mailbox& mailbox,
                                           const Clock& clock) {
  RC_TRY(validate(options));
  if (options.client_id.empty()) options.client_id = options.engine.box_id;
  RC_ASSIGN_OR_RETURN(std::unique_ptr<SyncEngine> engine,
                      SyncEngine::create(options.engine, journal, mailbox, clock));
  std::unique_ptr<Sync> sync(
      new Sync(std::move(options), journal, mailbox, clock, std::move(engine)));
  RC_TRY(sync->build_client());
  return sync;
}

Status Sync::build_client() {
  try {
    // MQTT 3.1.1, no client-side persistence (the journal is the box's memory), a small queue.
    mqtt::create_options create(MQTTVERSION_3_1_1, options_.max_buffered_messages);
    client_ = std::make_unique<mqtt::async_client>(options_.broker_uri, options_.client_id, create);
  } catch (const mqtt::exception& e) {
    return make_error(ErrorCode::kInvalidArgument, "sync: cannot create an MQTT client for " +
                                                       options_.broker_uri + ": " + describe(e));
  }
  // Callbacks before connect: the broker delivers queued session messages right after CONNACK.
  // They only copy and wake the worker; never block or call back into Paho here.
  client_->set_message_callback([this](mqtt::const_message_ptr message) {
    if (!message) return;
    std::lock_guard lock(mu_);
    const std::size_t size = message->get_payload_ref().size();
    if (received_.size() >= kMaxReceivedMessages || received_bytes_ + size > kMaxReceivedBytes) {
      spdlog::warn("sync: inbound queue full, dropped a message on {}", message->get_topic());
      return;
    }
    received_.push_back(Received{message->get_topic(), message->get_payload_str()});
    received_bytes_ += size;
    cv_.notify_one();
  });
  client_->set_connection_lost_handler([this](const std::string& cause) {
    std::lock_guard lock(mu_);
    connection_lost_ = true;
    spdlog::warn("sync: connection to {} lost{}{}", options_.broker_uri, cause.empty() ? "" : ": ",
                 cause);
    cv_.notify_one();
  });
  transport_ = std::make_unique<PahoTransport>(*client_);
  return ok_status();
}

Sync::~Sync() { stop(); }

Status Sync::start() {
  if (started_) return make_error(ErrorCode::kFailedPrecondition, "sync: already started");
  started_ = true;
  spdlog::info("sync: box {} syncing with {} as client {}", options_.engine.box_id,
               options_.broker_uri, options_.client_id);
  worker_ = std::thread([this] { run(); });
  return ok_status();
}

void Sync::stop(std::chrono::milliseconds drain) {
  if (!worker_.joinable()) return;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  worker_.join();
  if (client_ && client_->is_connected()) {
    // The broker sends the will only for an unclean end, so say "offline" ourselves.
    if (Status s = engine_->publish_offline(*transport_); !s.ok()) {
      spdlog::warn("sync: cannot publish status offline: {}", s.error().to_string());
    }
    try {
      // Let what is in flight (the offline status included) finish first: Paho 1.3's
      // disconnect(timeout) called with messages in flight waits out the whole timeout even when
      // they complete at once, whereas a disconnect with nothing pending is immediate.
      const auto deadline = std::chrono::steady_clock::now() + drain;
      for (const mqtt::delivery_token_ptr& token : client_->get_pending_delivery_tokens()) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        bool done = false;
        try {
          done = left > std::chrono::milliseconds(0) && token->wait_for(left);
        } catch (const mqtt::exception&) {
          done = true;  // that one failed; nothing more to wait for
        }
        if (!done) {
          spdlog::warn(
              "sync: messages still in flight at stop (events are sent again from the "
              "journal at the next start)");
          break;
        }
      }
      if (!client_->disconnect(0)->wait_for(std::chrono::seconds(2))) {
        spdlog::warn("sync: disconnect did not finish in time");
      }
    } catch (const mqtt::exception& e) {
      spdlog::warn("sync: disconnect failed: {}", describe(e));
    }
  }
  engine_->on_disconnected();
  publish_stats();
  connected_ = false;
  spdlog::info("sync: stopped (acked up to seq {})", engine_->stats().acked_upto);
}

SyncStats Sync::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void Sync::publish_stats() {
  std::lock_guard lock(mu_);
  stats_ = engine_->stats();
}

Status Sync::try_connect() {
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
    ssl.set_error_handler([](const std::string& text) { spdlog::warn("sync: TLS: {}", text); });
    options.set_ssl(std::move(ssl));
  }
  RC_ASSIGN_OR_RETURN(std::string will, engine_->will_payload());
  options.set_will(mqtt::will_options(engine_->will_topic(), will, 1, true));

  {
    // A loss reported for an earlier connection must not be taken for this one's.
    std::lock_guard lock(mu_);
    connection_lost_ = false;
  }
  try {
    // `options` outlives the token (Paho 1.2 bug #426 concerns v5 properties, which we do not
    // use, but there is no reason to tempt it).
    mqtt::token_ptr token = client_->connect(options);
    while (!token->wait_for(std::chrono::milliseconds(100))) {
      if (stopping_) return make_error(ErrorCode::kUnavailable, "stopping");
    }
    const bool session = token->get_connect_response().is_session_present();
    spdlog::info("sync: connected to {} ({})", options_.broker_uri,
                 session ? "session resumed" : "new session");
    return ok_status();
  } catch (const mqtt::exception& e) {
    return make_error(ErrorCode::kUnavailable, describe(e));
  }
}

void Sync::wait_for_work() {
  {
    std::unique_lock lock(mu_);
    if (!received_.empty() || connection_lost_ || stopping_) return;
    if (!engine_->wait_after().has_value()) {
      cv_.wait_for(lock, options_.idle_tick);
      return;
    }
  }
  // Sleep on the journal (new events wake it); inbound messages wait at most one tick.
  journal_.wait_for_events(*engine_->wait_after(), options_.idle_tick);
}

void Sync::run() {
  Clock::Monotonic next_attempt = clock_.monotonic();
  bool logged_down = false;
  while (!stopping_) {
    if (!engine_->connected() && clock_.monotonic() >= next_attempt) {
      Status up = try_connect();
      if (stopping_) break;
      if (up.ok()) {
        backoff_.reset();
        logged_down = false;
        engine_->on_connected(*transport_);
        // The stats first, then the flag: whoever sees connected() also sees this connect counted.
        publish_stats();
        connected_ = true;
      } else {
        const auto delay = backoff_.next();
        next_attempt = clock_.monotonic() + delay;
        // One warning per outage; the retries after it are debug lines.
        if (!logged_down) {
          spdlog::warn(
              "sync: cannot connect to {}: {}; retrying with back-off (next in {} ms), "
              "events stay in the journal",
              options_.broker_uri, up.error().message, delay.count());
          logged_down = true;
        } else {
          spdlog::debug("sync: connect failed again ({}); next attempt in {} ms",
                        up.error().message, delay.count());
        }
      }
    }

    std::deque<Received> received;
    bool lost = false;
    {
      std::lock_guard lock(mu_);
      received.swap(received_);
      received_bytes_ = 0;
      lost = connection_lost_;
      connection_lost_ = false;
    }
    for (const Received& message : received) {
      engine_->on_message(*transport_, message.topic, message.payload);
    }
    // The callback is the usual signal; is_connected() covers a loss that raced with connect.
    if (engine_->connected() && (lost || !client_->is_connected())) {
      engine_->on_disconnected();
      publish_stats();
      connected_ = false;
      // Retry soon: a broker restart is the usual cause.
      next_attempt = clock_.monotonic() + backoff_.next();
    }
    const bool more = engine_->poll(*transport_);
    publish_stats();
    if (!more) wait_for_work();
  }
}

}  // namespace reclothes::firmware
