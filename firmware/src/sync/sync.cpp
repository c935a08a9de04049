#include "reclothes/firmware/sync.h"

#include <mqtt/async_client.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <functional>
#include <system_error>

namespace reclothes::firmware {

namespace {

// Inbound messages waiting for the next pass, at most; a flood beyond this is dropped with a log
// line (QoS 1 has acknowledged it already: the controller retries commands, acks are cumulative
// and the config is retained, so nothing is lost for good).
constexpr std::size_t kMaxReceivedMessages = 2048;
constexpr std::size_t kMaxReceivedBytes = 16 * 1024 * 1024;
// Rounds of engine.poll() per pass while it has more to send.
constexpr int kMaxSendRounds = 4;
// How often is_connected() backs up the connection-lost callback (a loss that raced a connect).
constexpr std::chrono::seconds kLivenessCheckEvery{1};

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

mqtt::ssl_options ssl_options(const SyncTlsOptions& tls) {
  mqtt::ssl_options ssl;
  if (!tls.trust_store.empty()) ssl.set_trust_store(tls.trust_store);
  if (!tls.key_store.empty()) ssl.set_key_store(tls.key_store);
  if (!tls.private_key.empty()) ssl.set_private_key(tls.private_key);
  ssl.set_enable_server_cert_auth(tls.verify_server);
  ssl.set_verify(tls.verify_server);
  ssl.set_error_handler([](const std::string& text) { spdlog::warn("sync: TLS: {}", text); });
  return ssl;
}

}  // namespace

SyncOptions sync_options(const BoxConfig& config, std::string_view firmware_version) {
  SyncOptions o;
  o.broker_uri = config.broker.uri;
  o.client_id = config.broker.client_id;
  o.keepalive = config.broker.keepalive;
  o.username = config.broker.username;
  o.password = config.broker.password;
  if (config.broker.tls) {
    SyncTlsOptions tls;
    tls.trust_store = config.broker.tls->ca.string();
    if (config.broker.tls->cert) tls.key_store = config.broker.tls->cert->string();
    if (config.broker.tls->key) tls.private_key = config.broker.tls->key->string();
    o.tls = tls;
  }
  o.engine.box_id = config.box_id;
  o.engine.firmware_version = std::string(firmware_version);
  o.engine.state_interval = config.state_report_interval;
  return o;
}

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

// SyncTransport over the Paho client. Used by the thread that polls only. No is_connected() check
// first (Paho's process-wide mutex again): a publish while disconnected fails by itself.
class Sync::PahoTransport final : public SyncTransport {
 public:
  explicit PahoTransport(mqtt::async_client& client) : client_(client) {}

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
    switch (e.get_return_code()) {
      case MQTTASYNC_MAX_BUFFERED_MESSAGES:
        return make_error(ErrorCode::kResourceExhausted, what + ": " + describe(e));
      case MQTTASYNC_DISCONNECTED:
        return make_error(ErrorCode::kUnavailable, what + ": not connected to the broker");
      default:
        return make_error(ErrorCode::kUnavailable, what + ": " + describe(e));
    }
  }

  mqtt::async_client& client_;
};

// Wakes the poller when a connect attempt ends, either way (Paho's thread; no blocking).
class Sync::ConnectListener final : public mqtt::iaction_listener {
 public:
  explicit ConnectListener(Sync& sync) : sync_(sync) {}
  void on_success(const mqtt::token&) override { sync_.wake(); }
  void on_failure(const mqtt::token&) override { sync_.wake(); }

 private:
  Sync& sync_;
};

Sync::Sync(SyncOptions options, Journal& journal, const Clock& clock,
           std::unique_ptr<SyncEngine> engine)
    : options_(std::move(options)),
      journal_(journal),
      clock_(clock),
      engine_(std::move(engine)),
      connect_listener_(std::make_unique<ConnectListener>(*this)),
      backoff_(options_.reconnect_min, options_.reconnect_max, 0.2,
               static_cast<std::uint32_t>(std::hash<std::string>{}(options_.client_id))) {}

Result<std::unique_ptr<Sync>> Sync::create(SyncOptions options, Journal& journal, Mailbox& mailbox,
                                           const Clock& clock) {
  RC_TRY(validate(options));
  if (options.client_id.empty()) options.client_id = options.engine.box_id;
  RC_ASSIGN_OR_RETURN(std::unique_ptr<SyncEngine> engine,
                      SyncEngine::create(options.engine, journal, mailbox, clock));
  std::unique_ptr<Sync> sync(new Sync(std::move(options), journal, clock, std::move(engine)));
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
  client_->set_message_callback([this](mqtt::const_message_ptr message) {
    if (!message) return;
    {
      std::lock_guard lock(mu_);
      const std::size_t size = message->get_payload_ref().size();
      if (received_.size() >= kMaxReceivedMessages || received_bytes_ + size > kMaxReceivedBytes) {
        spdlog::warn("sync: inbound queue full, dropped a message on {}", message->get_topic());
        return;
      }
      received_.push_back(Received{message->get_topic(), message->get_payload_str()});
      received_bytes_ += size;
    }
    wake();
  });
  client_->set_connection_lost_handler([this](const std::string& cause) {
    {
      std::lock_guard lock(mu_);
      connection_lost_ = true;
    }
    spdlog::warn("sync: connection to {} lost{}{}", options_.broker_uri, cause.empty() ? "" : ": ",
                 cause);
    wake();
  });
  transport_ = std::make_unique<PahoTransport>(*client_);
  return ok_status();
}

Sync::~Sync() {
  stop();
  // The client goes first, while the queue and the mutex its callbacks use still exist (members
  // are destroyed after this body, in reverse order).
  try {
    client_.reset();
  } catch (const mqtt::exception& e) {
    spdlog::debug("sync: destroying the MQTT client: {}", describe(e));
  }
}

Status Sync::begin(Mode mode) {
  if (mode_ != Mode::kNotStarted) {
    return make_error(ErrorCode::kFailedPrecondition, "sync: already started");
  }
  mode_ = mode;
  spdlog::info("sync: box {} syncing with {} as client {}", options_.engine.box_id,
               options_.broker_uri, options_.client_id);
  return ok_status();
}

Status Sync::start() {
  RC_TRY(begin(Mode::kOwnThread));
  next_attempt_ = clock_.monotonic();
  worker_ = std::thread([this] { run(); });
  return ok_status();
}

Status Sync::start_polled(std::function<void()> wake, Clock::Monotonic connect_at) {
  RC_TRY(begin(Mode::kPolled));
  wake_ = std::move(wake);
  next_attempt_ = connect_at;
  return ok_status();
}

void Sync::wake() {
  {
    std::lock_guard lock(mu_);
    work_ = true;
  }
  cv_.notify_one();
  if (wake_) wake_();
}

void Sync::begin_stop() {
  if (stop_begun_ || mode_ == Mode::kNotStarted) return;
  stop_begun_ = true;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
  // The engine is this thread's now.
  if (client_ && client_->is_connected()) {
    // The broker sends the will only for an unclean end, so say "offline" ourselves.
    if (Status s = engine_->publish_offline(*transport_); !s.ok()) {
      spdlog::warn("sync: cannot publish status offline: {}", s.error().to_string());
    }
  }
}

void Sync::stop(std::chrono::milliseconds drain) {
  begin_stop();
  if (!stop_begun_ || stopped_) return;
  stopped_ = true;
  if (client_ && client_->is_connected()) {
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

// ---- one pass -----------------------------------------------------------------------------------

bool Sync::poll() { return mode_ == Mode::kPolled && pass(); }

bool Sync::pass() {
  if (stopping_) return false;
  work_ = false;
  drive_connection();
  handle_inbound();
  bool more = false;
  for (int round = 0; round < kMaxSendRounds; ++round) {
    more = engine_->poll(*transport_);
    if (!more) break;
  }
  publish_stats();
  return more;
}

void Sync::drive_connection() {
  if (connecting_) {
    bool done = false;
    try {
      done = connecting_->try_wait();
    } catch (const mqtt::exception& e) {
      connecting_.reset();
      connect_failed(describe(e));
      return;
    }
    if (done) finish_connect();
    return;
  }
  if (!engine_->connected() && clock_.monotonic() >= next_attempt_) {
    if (Status s = start_connect(); !s.ok()) connect_failed(s.error().message);
  }
}

Status Sync::start_connect() {
  mqtt::connect_options options;
  options.set_mqtt_version(MQTTVERSION_3_1_1);
  options.set_clean_session(false);
  options.set_keep_alive_interval(options_.keepalive);
  options.set_connect_timeout(options_.connect_timeout);
  options.set_automatic_reconnect(false);
  if (options_.username) options.set_user_name(*options_.username);
  if (options_.password) options.set_password(*options_.password);
  if (options_.tls) options.set_ssl(ssl_options(*options_.tls));
  RC_ASSIGN_OR_RETURN(std::string will, engine_->will_payload());
  options.set_will(mqtt::will_options(engine_->will_topic(), will, 1, true));
  {
    // A loss reported for an earlier connection must not be taken for this one's.
    std::lock_guard lock(mu_);
    connection_lost_ = false;
  }
  try {
    // Paho copies the options into the token, which lives until the attempt ends.
    connecting_ = client_->connect(options, nullptr, *connect_listener_);
  } catch (const mqtt::exception& e) {
    return make_error(ErrorCode::kUnavailable, describe(e));
  }
  return ok_status();
}

void Sync::finish_connect() {
  const bool session = connecting_->get_connect_response().is_session_present();
  connecting_.reset();
  spdlog::info("sync: connected to {} ({})", options_.broker_uri,
               session ? "session resumed" : "new session");
  backoff_.reset();
  logged_down_ = false;
  engine_->on_connected(*transport_);
  // The stats first, then the flag: whoever sees connected() also sees this connect counted.
  publish_stats();
  connected_ = true;
}

void Sync::connect_failed(const std::string& why) {
  const auto delay = backoff_.next();
  next_attempt_ = clock_.monotonic() + delay;
  // One warning per outage; the retries after it are debug lines.
  if (!logged_down_) {
    spdlog::warn(
        "sync: cannot connect to {}: {}; retrying with back-off (next in {} ms), events stay in "
        "the journal",
        options_.broker_uri, why, delay.count());
    logged_down_ = true;
  } else {
    spdlog::debug("sync: connect failed again ({}); next attempt in {} ms", why, delay.count());
  }
}

void Sync::handle_inbound() {
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
  if (!engine_->connected()) return;
  // The callback is the usual signal; is_connected() covers a loss that raced with the connect.
  if (!lost && clock_.monotonic() >= next_liveness_check_) {
    next_liveness_check_ = clock_.monotonic() + kLivenessCheckEvery;
    lost = !client_->is_connected();
  }
  if (lost) set_disconnected();
}

void Sync::set_disconnected() {
  engine_->on_disconnected();
  publish_stats();
  connected_ = false;
  // Retry soon: a broker restart is the usual cause.
  next_attempt_ = clock_.monotonic() + backoff_.next();
}

// ---- own-thread mode ----------------------------------------------------------------------------

void Sync::wait_for_work() {
  {
    std::unique_lock lock(mu_);
    if (work_ || stopping_) return;
    if (!engine_->wait_after().has_value()) {
      cv_.wait_for(lock, options_.idle_tick, [this] { return work_ || stopping_; });
      return;
    }
  }
  // Sleep on the journal (new events wake it); inbound messages wait at most one tick.
  journal_.wait_for_events(*engine_->wait_after(), options_.idle_tick);
}

void Sync::run() {
  while (!stopping_) {
    if (!pass()) wait_for_work();
  }
}

}  // namespace reclothes::firmware
