#include "reclothes/simulator/acker.h"

#include <mqtt/async_client.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>

#include "reclothes/common/clock.h"

namespace reclothes::simulator {

namespace {

// Paho's queue of messages not yet written: the acks of a whole fleet.
constexpr int kMaxBufferedMessages = 100'000;
constexpr std::chrono::seconds kDisconnectWait{2};

mqtt::connect_options connect_options(const Acker::Options& o) {
  mqtt::connect_options c;
  c.set_mqtt_version(MQTTVERSION_3_1_1);
  c.set_clean_session(o.clean_session);
  c.set_keep_alive_interval(o.keepalive);
  c.set_connect_timeout(o.connect_timeout);
  c.set_automatic_reconnect(false);
  return c;
}

}  // namespace

// ---- AckLedger ----------------------------------------------------------------------------------

AckLedger::Step AckLedger::apply(const std::string& box_id, const msg::Events& batch) {
  std::uint64_t& applied = applied_[box_id];
  Step step{applied, applied};
  if (batch.events.empty()) return step;
  const std::uint64_t first = batch.events.front().seq;
  const std::uint64_t last = batch.events.back().seq;
  if (first <= applied + 1) applied = std::max(applied, last);
  step.after = applied;
  return step;
}

std::uint64_t AckLedger::applied(const std::string& box_id) const {
  const auto it = applied_.find(box_id);
  return it == applied_.end() ? 0 : it->second;
}

// ---- Acker --------------------------------------------------------------------------------------

Acker::Acker(Options options) : options_(std::move(options)) {
  if (options_.client_id.empty())
    options_.client_id = "reclothes-acker-" + std::to_string(::getpid());
  if (options_.topics.empty()) options_.topics = {std::string(msg::kTopicRoot) + "+/events"};
}

Result<std::unique_ptr<Acker>> Acker::start(Options options) {
  std::unique_ptr<Acker> acker(new Acker(std::move(options)));
  RC_TRY(acker->connect_and_subscribe());
  acker->thread_ = std::thread([raw = acker.get()] { raw->run(); });
  return acker;
}

Status Acker::connect_and_subscribe() {
  try {
    client_ = std::make_unique<mqtt::async_client>(
        options_.uri, options_.client_id,
        mqtt::create_options(MQTTVERSION_3_1_1, kMaxBufferedMessages));
    client_->set_message_callback([this](mqtt::const_message_ptr m) {
      if (!m) return;
      {
        std::lock_guard lock(mu_);
        queue_.emplace_back(m->get_topic(), m->get_payload_str());
      }
      cv_.notify_one();
    });
    // Every connect renews the subscriptions (a broker that lost the session is harmless). No
    // waiting here: never block inside a Paho callback.
    client_->set_connected_handler([this](const std::string&) {
      try {
        for (const std::string& topic : options_.topics) client_->subscribe(topic, 1);
      } catch (const mqtt::exception& e) {
        spdlog::warn("acker: cannot subscribe again: {}", e.what());
      }
    });
    client_->connect(connect_options(options_))->wait();
    // The connected handler subscribed too; these say when the broker holds the subscriptions.
    for (const std::string& topic : options_.topics) client_->subscribe(topic, 1)->wait();
  } catch (const mqtt::exception& e) {
    return make_error(ErrorCode::kUnavailable,
                      "acker: cannot subscribe at " + options_.uri + ": " + e.what());
  }
  return ok_status();
}

Acker::~Acker() { stop(); }

void Acker::stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  try {
    if (client_ && client_->is_connected()) client_->disconnect()->wait_for(kDisconnectWait);
    // The client goes before the queue and the mutex its callback uses.
    client_.reset();
  } catch (const mqtt::exception& e) {
    spdlog::debug("acker: disconnect: {}", e.what());
  }
}

Status Acker::publish(const std::string& topic, std::string payload, bool retained,
                      std::chrono::milliseconds wait) {
  if (!client_) return make_error(ErrorCode::kFailedPrecondition, "acker: stopped");
  try {
    auto token = client_->publish(mqtt::make_message(topic, std::move(payload), 1, retained));
    if (wait > std::chrono::milliseconds(0) && !token->wait_for(wait)) {
      return make_error(ErrorCode::kDeadlineExceeded, "acker: publish to " + topic + " timed out");
    }
    return ok_status();
  } catch (const mqtt::exception& e) {
    return make_error(ErrorCode::kUnavailable, "acker: publish to " + topic + ": " + e.what());
  }
}

bool Acker::connected() const { return client_ && client_->is_connected(); }

Status Acker::reconnect(std::chrono::milliseconds timeout) {
  if (!client_) return make_error(ErrorCode::kFailedPrecondition, "acker: stopped");
  try {
    if (client_->connect(connect_options(options_))->wait_for(timeout)) return ok_status();
    return make_error(ErrorCode::kUnavailable,
                      "acker: reconnect to " + options_.uri + " timed out");
  } catch (const mqtt::exception& e) {
    return make_error(ErrorCode::kUnavailable,
                      "acker: cannot reconnect to " + options_.uri + ": " + e.what());
  }
}

void Acker::run() {
  for (;;) {
    std::deque<std::pair<std::string, std::string>> batch;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      batch.swap(queue_);
    }
    for (const auto& [topic, payload] : batch) handle(topic, payload);
  }
}

void Acker::handle(const std::string& topic, const std::string& payload) {
  auto envelope = msg::parse_received(topic, payload);
  if (!envelope.ok()) {
    ++rejected_;
    spdlog::warn("acker: dropped a message on {}: {}", topic, envelope.error().message);
    if (options_.on_rejected) options_.on_rejected(topic, envelope.error());
    return;
  }
  const auto* events = std::get_if<msg::Events>(&envelope->body);
  if (events == nullptr || events->events.empty()) {
    if (options_.on_message) options_.on_message(*envelope, nullptr);
    return;
  }
  events_ += events->events.size();
  const AckLedger::Step step = ledger_.apply(envelope->box_id, *events);
  if (options_.on_message) options_.on_message(*envelope, &step);
  if (!options_.ack || step.after == 0) return;
  // Like the controller: every batch is answered, duplicates too (the ack may have been lost).
  auto text = msg::serialize(
      msg::make_envelope(envelope->box_id, SystemClock().wall_ms(), msg::Ack{step.after}));
  if (!text.ok()) return;
  if (Status s = publish(msg::topic(envelope->box_id, msg::Topic::kAcks), *text); !s.ok()) {
    spdlog::warn("acker: cannot ack {}: {}", envelope->box_id, s.error().message);
    return;
  }
  ++acks_;
}

}  // namespace reclothes::simulator
