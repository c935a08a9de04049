#include "reclothes/controller/bridge.h"

#include <mqtt/async_client.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "reclothes/common/backoff.h"
#include "reclothes/controller/fleet.h"

namespace reclothes::controller {
namespace {

constexpr auto kPublishTimeout = std::chrono::seconds(10);
// How long the message callback waits for room in a full queue before queueing beyond it.

std::string plain_subscription(msg::Topic leaf) {
  return std::string(msg::kTopicRoot) + "+/" + std::string(msg::to_string(leaf));
}

}  // namespace

Result<std::unique_ptr<MqttBridge>> MqttBridge::create(Deps deps) {
  std::unique_ptr<MqttBridge> bridge(new MqttBridge(deps));
  try {
    // Up to 10,000 publishes may be in flight; the default of 100 fails bursts (STACK.md §1).
    mqtt::create_options opts(MQTTVERSION_3_1_1, 10000);
    bridge->client_ =
        std::make_unique<mqtt::async_client>(deps.config.uri, deps.config.client_id, opts, nullptr);
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInvalidArgument,
                      "MQTT client for " + deps.config.uri + ": " + e.what());
  }
  auto* self = bridge.get();
  // Callbacks are set before connect(): queued session messages arrive right after CONNACK.
  self->client_->set_message_callback([self](mqtt::const_message_ptr m) {
    self->enqueue(Job{Job::Kind::kMessage, m->get_topic(), m->to_string(), {}, {}}, true);
  });
  self->client_->set_connected_handler([self](const std::string&) {
    self->connected_ = true;
    self->deps_.metrics.set_mqtt_connected(true);
    self->deps_.log.info("mqtt connected", {{"uri", self->deps_.config.uri}});
    self->subscribe_all();
    // Configs whose publication was not confirmed before are sent again.
    self->enqueue(Job{Job::Kind::kPendingConfigs, {}, {}, {}, {}}, false);
    self->cv_state_.notify_all();  // the supervisor watches the subscribe tokens
  });
  self->client_->set_connection_lost_handler([self](const std::string& cause) {
    self->connected_ = false;
    self->subscribed_ = false;
    self->deps_.metrics.set_mqtt_connected(false);
    self->deps_.log.warn("mqtt connection lost", {{"cause", cause}});
  });
  return bridge;
}

MqttBridge::MqttBridge(Deps deps) : deps_(deps) {}

MqttBridge::~MqttBridge() { stop(); }

void MqttBridge::start() {
  if (started_) return;
  started_ = true;
  stopping_ = false;
  worker_ = std::thread([this] { worker_loop(); });
  supervisor_ = std::thread([this] { supervisor_loop(); });
}

void MqttBridge::stop() {
  if (!started_) return;
  stopping_ = true;
  cv_work_.notify_all();
  cv_state_.notify_all();
  if (supervisor_.joinable()) supervisor_.join();
  if (worker_.joinable()) worker_.join();
  try {
    if (client_->is_connected()) client_->disconnect()->wait_for(std::chrono::seconds(2));
  } catch (const std::exception& e) {
    deps_.log.warn("mqtt disconnect failed", {{"error", e.what()}});
  }
  connected_ = false;
  subscribed_ = false;
  deps_.metrics.set_mqtt_connected(false);
  started_ = false;
}

bool MqttBridge::wait_connected(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_state_.wait_for(lock, timeout, [this] { return connected() || stopping_.load(); }) &&
         connected();
}

bool MqttBridge::idle() const {
  std::lock_guard lock(mu_);
  return queue_.empty() && !busy_ && deferred_.empty();
}

void MqttBridge::enqueue(Job job, bool from_broker) {
  std::unique_lock lock(mu_);
  if (from_broker && queue_.size() >= deps_.config.queue_capacity) {
    // Overloaded: the worker is a full queue behind. Paho runs this callback holding its client
    // mutex, which the worker needs for every ack it publishes, so the callback must never wait
    // here: a bounded wait still let Paho's thread win that mutex back each time, and the worker
    // crawled at a few messages a second while the queue stayed full (B7, 10,000 boxes). Instead
    // the callback sheds what the boxes will send again: an events batch (unacked, so the box
    // resends it from its journal; the seq check applies it once) and a state report (the next
    // one supersedes it). Everything else is rare and small, and queues beyond the capacity.
    ++overflowed_;
    deps_.metrics.count_queue_overflow();
    const auto& t = job.topic;
    const auto ends_with = [&t](std::string_view leaf) {
      return t.size() >= leaf.size() && t.compare(t.size() - leaf.size(), leaf.size(), leaf) == 0;
    };
    if (ends_with("/events") || ends_with("/state")) {
      ++shed_;
      return;
    }
  }
  job.queued_at = std::chrono::steady_clock::now();
  queue_.push_back(std::move(job));
  cv_work_.notify_one();
}

void MqttBridge::publish_config(const std::string& box_id) {
  enqueue(Job{Job::Kind::kConfig, {}, {}, box_id, {}}, false);
}

void MqttBridge::publish_all_configs() {
  enqueue(Job{Job::Kind::kAllConfigs, {}, {}, {}, {}}, false);
}

void MqttBridge::publish_command(const std::string& box_id, const msg::Command& command) {
  enqueue(Job{Job::Kind::kCommand, {}, {}, box_id, command}, false);
}

void MqttBridge::supervisor_loop() {
  // Between failed connects: 0.5 s, 1 s, 2 s ... 8 s (common/backoff.h); a connect resets it.
  Backoff backoff(std::chrono::milliseconds(500), std::chrono::milliseconds(8000));
  auto retry_in = std::chrono::milliseconds(500);
  while (!stopping_) {
    if (!client_->is_connected()) {
      connected_ = false;
      deps_.metrics.set_mqtt_connected(false);
      // A named options object that lives through connect() (STACK.md §1, Paho 1.2 traps).
      mqtt::connect_options opts;
      opts.set_mqtt_version(MQTTVERSION_3_1_1);
      // A clean session: with a persistent one, Mosquitto goes on handing a dead replica's
      // session its share of the shared subscription (queued, not given to the survivors;
      // eclipse-mosquitto #1747), and every box stalls for an ack timeout again and again until
      // the replica returns. Nothing here needs the broker to keep messages for us: boxes resend
      // unacked events from their journal, a lost command result is covered by the
      // command_executed event, and status and state are retained.
      opts.set_clean_session(true);
      opts.set_keep_alive_interval(deps_.config.keepalive);
      opts.set_connect_timeout(std::chrono::seconds(5));
      if (deps_.config.username) opts.set_user_name(*deps_.config.username);
      if (deps_.config.password) opts.set_password(*deps_.config.password);
      if (deps_.config.ca_file || deps_.config.cert_file) {
        mqtt::ssl_options ssl;
        if (deps_.config.ca_file) ssl.set_trust_store(deps_.config.ca_file->string());
        if (deps_.config.cert_file) ssl.set_key_store(deps_.config.cert_file->string());
        if (deps_.config.key_file) ssl.set_private_key(deps_.config.key_file->string());
        ssl.set_enable_server_cert_auth(true);
        opts.set_ssl(std::move(ssl));
      }
      try {
        // This is the supervisor's own thread, not a Paho callback, so waiting is allowed.
        deps_.log.debug("mqtt connecting", {{"uri", deps_.config.uri}});
        auto tok = client_->connect(opts);
        if (!tok->wait_for(std::chrono::seconds(6))) {
          deps_.log.warn("mqtt connect timed out", {{"uri", deps_.config.uri}});
        } else {
          backoff.reset();
        }
      } catch (const std::exception& e) {
        deps_.log.warn("mqtt connect failed", {{"uri", deps_.config.uri}, {"error", e.what()}});
        retry_in = backoff.next();
      }
    }
    {
      // Subscriptions count once the broker acknowledged all of them (SUBACK).
      std::lock_guard lock(subs_mu_);
      if (!pending_subs_.empty() &&
          std::all_of(pending_subs_.begin(), pending_subs_.end(),
                      [](const mqtt::token_ptr& t) { return t->is_complete(); })) {
        const bool ok =
            std::all_of(pending_subs_.begin(), pending_subs_.end(),
                        [](const mqtt::token_ptr& t) { return t->get_return_code() == 0; });
        pending_subs_.clear();
        if (ok) {
          subscribed_ = true;
          { std::lock_guard state_lock(mu_); }
          cv_state_.notify_all();
        } else {
          deps_.log.error("mqtt subscription refused by the broker", {});
        }
      }
    }
    // Never call into Paho while holding mu_: Paho holds its own lock while it runs our
    // callbacks, which take mu_.
    const auto pause = !client_->is_connected() ? retry_in
                       : subscribed_.load()     ? std::chrono::milliseconds(250)
                                                : std::chrono::milliseconds(20);
    std::unique_lock lock(mu_);
    cv_state_.wait_for(lock, pause, [this] { return stopping_.load(); });
  }
}

void MqttBridge::subscribe_all() {
  // Called from Paho's connected handler: subscribe without waiting on the tokens.
  const auto& group = deps_.config.share_group;
  subscribed_ = false;
  std::vector<mqtt::token_ptr> tokens;
  try {
    tokens.push_back(client_->subscribe(msg::shared_subscription(msg::Topic::kEvents, group), 1));
    tokens.push_back(
        client_->subscribe(msg::shared_subscription(msg::Topic::kCommandResults, group), 1));
    tokens.push_back(client_->subscribe(plain_subscription(msg::Topic::kStatus), 1));
    tokens.push_back(client_->subscribe(plain_subscription(msg::Topic::kState), 1));
  } catch (const std::exception& e) {
    deps_.log.error("mqtt subscribe failed", {{"error", e.what()}});
  }
  std::lock_guard lock(subs_mu_);
  pending_subs_ = std::move(tokens);
}

void MqttBridge::worker_loop() {
  while (true) {
    Job job;
    bool retry_due = false;
    {
      std::unique_lock lock(mu_);
      const auto ready = [this] { return !queue_.empty() || stopping_.load(); };
      if (deferred_.empty()) {
        cv_work_.wait(lock, ready);
      } else {
        cv_work_.wait_until(lock, retry_at_, ready);
      }
      if (stopping_) return;
      // Batches waiting for the database go first when their time has come: new ones would
      // only queue behind them.
      retry_due = !deferred_.empty() && std::chrono::steady_clock::now() >= retry_at_;
      if (!retry_due) {
        if (queue_.empty()) continue;
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      busy_ = true;
    }
    if (!retry_due && job.kind == Job::Kind::kMessage) {
      deps_.metrics.observe_mqtt_queue_wait(std::chrono::steady_clock::now() - job.queued_at);
    }
    if (retry_due) {
      try {
        retry_deferred();
      } catch (const std::exception& e) {
        // What was taken out for this attempt is gone; the boxes resend it.
        deps_.log.error("retrying events failed", {{"error", e.what()}});
      }
      std::lock_guard lock(mu_);
      if (deferred_.empty()) deferred_bytes_ = 0;
      busy_ = false;
      continue;
    }
    try {
      switch (job.kind) {
        case Job::Kind::kMessage:
          handle_message(job.topic, job.payload);
          break;
        case Job::Kind::kConfig:
          publish_config_now(job.box_id);
          break;
        case Job::Kind::kAllConfigs:
        case Job::Kind::kPendingConfigs: {
          const bool all = job.kind == Job::Kind::kAllConfigs;
          auto ids =
              deps_.db.with_transaction([all](pqxx::work& tx) -> Result<std::vector<std::string>> {
                return all ? active_box_ids(tx) : boxes_with_unpublished_config(tx);
              });
          if (!ids.ok()) {
            deps_.log.error("listing boxes for config failed", {{"error", ids.error().message}});
            break;
          }
          for (const auto& id : *ids) publish_config_now(id);
          break;
        }
        case Job::Kind::kCommand:
          publish_command_now(job.box_id, job.command);
          break;
      }
    } catch (const std::exception& e) {
      deps_.log.error("mqtt worker job failed", {{"error", e.what()}});
    }
    std::lock_guard lock(mu_);
    busy_ = false;
  }
}

bool MqttBridge::publish_and_wait(const std::string& topic, const std::string& payload,
                                  bool retained) {
  if (!client_->is_connected()) return false;
  try {
    auto tok = client_->publish(mqtt::make_message(topic, payload, 1, retained));
    return tok->wait_for(kPublishTimeout) && tok->get_return_code() == 0;
  } catch (const std::exception& e) {
    deps_.log.warn("mqtt publish failed", {{"topic", topic}, {"error", e.what()}});
    return false;
  }
}

void MqttBridge::handle_message(const std::string& topic, const std::string& payload) {
  auto parsed = msg::parse_topic(topic);
  if (!parsed.ok()) {
    deps_.metrics.event_rejected("bad_topic");
    deps_.log.warn("mqtt message on an unexpected topic", {{"topic", topic}});
    return;
  }
  const auto& box_id = parsed->box_id;
  deps_.metrics.mqtt_message(msg::to_string(parsed->leaf));
  const auto now = deps_.clock.wall_ms();
  const auto reject = [&](std::string_view reason, const std::string& detail) {
    deps_.metrics.event_rejected(reason);
    deps_.log.warn("mqtt message rejected",
                   {{"box", box_id}, {"topic", topic}, {"reason", reason}, {"detail", detail}});
  };
  const auto parse = [&](msg::MessageType type) -> std::optional<msg::Envelope> {
    auto env = msg::parse_as(payload, type);
    if (!env.ok()) {
      reject("malformed", env.error().message);
      return std::nullopt;
    }
    if (env->box_id != box_id) {
      reject("box_mismatch", "envelope box " + env->box_id);
      return std::nullopt;
    }
    return std::move(env).value();
  };

  switch (parsed->leaf) {
    case msg::Topic::kEvents:
      handle_events(box_id, payload);
      return;
    case msg::Topic::kStatus: {
      auto env = parse(msg::MessageType::kStatus);
      if (!env) return;
      const auto& status = std::get<msg::Status>(env->body);
      auto r = deps_.db.with_autocommit([&](pqxx::transaction_base& tx) -> Result<bool> {
        return apply_status(tx, box_id, status, now);
      });
      if (!r.ok()) {
        deps_.log.error("status update failed", {{"box", box_id}, {"error", r.error().message}});
      } else if (!*r) {
        reject("unknown_box", "status");
      } else {
        deps_.log.info("box status",
                       {{"box", box_id}, {"online", status.online ? "true" : "false"}});
      }
      return;
    }
    case msg::Topic::kState: {
      auto env = parse(msg::MessageType::kState);
      if (!env) return;
      const auto raw = nlohmann::json::parse(payload, nullptr, false);
      const auto& state = std::get<msg::State>(env->body);
      auto r = deps_.db.with_autocommit([&](pqxx::transaction_base& tx) -> Result<bool> {
        return apply_state(tx, box_id, state,
                           raw.is_object() ? raw.value("body", nlohmann::json()) : nlohmann::json(),
                           now);
      });
      if (!r.ok()) {
        deps_.log.error("state update failed", {{"box", box_id}, {"error", r.error().message}});
      } else if (!*r) {
        reject("unknown_box", "state");
      }
      return;
    }
    case msg::Topic::kCommandResults: {
      auto env = parse(msg::MessageType::kCommandResult);
      if (!env) return;
      const auto& result = std::get<msg::CommandResult>(env->body);
      auto r = deps_.db.with_transaction([&](pqxx::work& tx) -> Result<bool> {
        return apply_command_result(tx, box_id, result, now);
      });
      if (!r.ok()) {
        deps_.log.error("command result failed", {{"box", box_id}, {"error", r.error().message}});
      } else if (!*r) {
        deps_.log.info("command result for an unknown or finished command",
                       {{"box", box_id}, {"command", result.command_id}});
      }
      return;
    }
    default:
      return;  // acks, commands and config are ours; we do not subscribe to them
  }
}

void MqttBridge::defer_events(const std::string& box_id, msg::Events batch, std::size_t bytes) {
  std::unique_lock lock(mu_);
  const bool first = deferred_.empty();
  if (deferred_.size() >= deps_.config.retry_capacity ||
      deferred_bytes_ + bytes > deps_.config.retry_bytes) {
    // Never acked, so the box resends it after its ack timeout; one line per outage.
    lock.unlock();
    deps_.metrics.count_events_retry_dropped();
    if (dropped_while_down_++ == 0) {
      deps_.log.warn("events batches beyond the retry bounds are dropped for the boxes to resend",
                     {{"box", box_id},
                      {"retry_capacity", deps_.config.retry_capacity},
                      {"retry_bytes", deps_.config.retry_bytes}});
    }
    return;
  }
  deferred_bytes_ += bytes;
  deferred_.push_back(Deferred{box_id, std::move(batch), bytes});
  if (first) retry_at_ = std::chrono::steady_clock::now() + retry_backoff_.next();
  const auto waiting = static_cast<double>(deferred_.size());
  lock.unlock();
  deps_.metrics.set_events_waiting_for_database(waiting);
  if (first) {
    deps_.log.warn("database unavailable: events batches are held and retried", {{"box", box_id}});
  }
}

void MqttBridge::retry_deferred() {
  // Everything held, merged into one batch per box (in the order the boxes first came, each
  // box's events by seq, one copy per seq): after an outage one transaction per box catches up,
  // instead of one per message the boxes sent meanwhile (resends included). Only this thread
  // adds to the list, so nothing arrives while it runs.
  std::vector<Deferred> merged;
  {
    std::lock_guard lock(mu_);
    std::map<std::string, std::size_t> index;
    for (auto& d : deferred_) {
      const auto [it, added] = index.try_emplace(d.box_id, merged.size());
      if (added) merged.push_back(Deferred{d.box_id, {}, 0});
      auto& into = merged[it->second];
      into.bytes += d.bytes;
      for (auto& e : d.batch.events) into.batch.events.push_back(std::move(e));
    }
    deferred_.clear();
  }
  for (auto& m : merged) {
    auto& events = m.batch.events;
    std::stable_sort(events.begin(), events.end(),
                     [](const msg::Event& a, const msg::Event& b) { return a.seq < b.seq; });
    events.erase(
        std::unique(events.begin(), events.end(),
                    [](const msg::Event& a, const msg::Event& b) { return a.seq == b.seq; }),
        events.end());
  }
  std::size_t applied = 0;
  // A failure right after the database came back may only be a pooled connection that broke
  // while idle (each failed use discards one: a restart faster than the back-off leaves the whole
  // pool stale), so a failed attempt is repeated at once, up to the pool's size, before backing
  // off; otherwise each stale connection would cost a whole delay. With the database down each
  // attempt is a refused connect, which costs next to nothing.
  const auto apply_now = [this](const Deferred& d) {
    auto outcome = apply_events(d.box_id, d.batch);
    for (int again = 0; outcome == EventsOutcome::kDatabaseDown && !stopping_ &&
                        again < deps_.db.options().pool_size;
         ++again) {
      outcome = apply_events(d.box_id, d.batch);
    }
    return outcome;
  };
  for (std::size_t i = 0; i < merged.size(); ++i) {
    if (stopping_ || apply_now(merged[i]) == EventsOutcome::kDatabaseDown) {
      // Still down: this box and the rest wait for the next attempt, merged as they are.
      std::unique_lock lock(mu_);
      std::size_t bytes = 0;
      for (std::size_t j = i; j < merged.size(); ++j) {
        bytes += merged[j].bytes;
        deferred_.push_back(std::move(merged[j]));
      }
      deferred_bytes_ = bytes;
      const auto delay = retry_backoff_.next();
      retry_at_ = std::chrono::steady_clock::now() + delay;
      const auto waiting = static_cast<double>(deferred_.size());
      lock.unlock();
      deps_.metrics.set_events_waiting_for_database(waiting);
      deps_.log.debug(
          "database still unavailable",
          {{"boxes_waiting", waiting}, {"retry_in_ms", static_cast<std::int64_t>(delay.count())}});
      return;
    }
    ++applied;
  }
  {
    std::lock_guard lock(mu_);
    deferred_bytes_ = 0;
  }
  deps_.metrics.set_events_waiting_for_database(0);
  retry_backoff_.reset();
  deps_.log.info("database back: held events applied",
                 {{"boxes", static_cast<std::int64_t>(applied)},
                  {"dropped_batches", static_cast<std::int64_t>(dropped_while_down_)}});
  dropped_while_down_ = 0;
}

void MqttBridge::handle_events(const std::string& box_id, const std::string& payload) {
  auto env = msg::parse_as(payload, msg::MessageType::kEvents);
  if (!env.ok()) {
    deps_.metrics.event_rejected("malformed");
    deps_.log.warn("events rejected", {{"box", box_id}, {"reason", env.error().message}});
    return;
  }
  if (env->box_id != box_id) {
    deps_.metrics.event_rejected("box_mismatch");
    deps_.log.warn("events rejected", {{"box", box_id}, {"reason", "envelope box differs"}});
    return;
  }
  auto& batch = std::get<msg::Events>(env->body);
  bool waiting = false;
  {
    std::lock_guard lock(mu_);
    waiting = !deferred_.empty();
  }
  // While batches wait for the database, a new one joins them without an attempt (the retry
  // merges a box's batches and applies them in seq order; tried alone it would find a gap).
  if (waiting || apply_events(box_id, batch) == EventsOutcome::kDatabaseDown) {
    defer_events(box_id, std::move(batch), payload.size());
  }
}

MqttBridge::EventsOutcome MqttBridge::apply_events(const std::string& box_id,
                                                   const msg::Events& batch) {
  auto outcome = deps_.events.apply(deps_.db, box_id, batch, deps_.clock.wall_ms());
  if (!outcome.ok()) {
    // Nothing was applied and nothing is acked. The database did not answer: the caller keeps
    // the batch for a retry. Anything else (a hook's error): the box sends the batch again.
    if (outcome.error().code == ErrorCode::kUnavailable) return EventsOutcome::kDatabaseDown;
    deps_.metrics.event_rejected("apply_error");
    deps_.log.error("applying events failed",
                    {{"box", box_id}, {"error", outcome.error().message}});
    return EventsOutcome::kDone;
  }
  switch (outcome->kind) {
    case ApplyOutcome::Kind::kUnknownBox:
      deps_.metrics.event_rejected("unknown_box");
      deps_.log.warn("events from an unknown box", {{"box", box_id}});
      return EventsOutcome::kDone;
    case ApplyOutcome::Kind::kDecommissioned:
      deps_.metrics.event_rejected("decommissioned");
      deps_.log.warn("events from a decommissioned box", {{"box", box_id}});
      return EventsOutcome::kDone;
    case ApplyOutcome::Kind::kApplied:
      break;
  }
  for (const auto& [seq, compartment] : outcome->unknown_compartment) {
    // Acked with the rest (the box must not resend it forever), never applied.
    deps_.metrics.event_rejected("unknown_compartment");
    deps_.log.warn("event rejected: the box has no such compartment",
                   {{"box", box_id}, {"seq", seq}, {"compartment", compartment}});
  }
  for (int i = 0; i < outcome->applied; ++i) deps_.metrics.event_applied();
  for (int i = 0; i < outcome->duplicates; ++i) deps_.metrics.event_duplicate();
  deps_.log.debug("events applied", {{"box", box_id},
                                     {"applied", outcome->applied},
                                     {"duplicates", outcome->duplicates},
                                     {"gap", outcome->gap ? "true" : "false"},
                                     {"upto", outcome->ack_upto}});
  // Acked even when everything was a duplicate: the box's previous ack may have been lost.
  auto ack = msg::serialize(
      msg::make_envelope(box_id, deps_.clock.wall_ms(), msg::Ack{outcome->ack_upto}));
  if (!ack.ok()) {
    deps_.log.error("ack not serialisable", {{"box", box_id}, {"error", ack.error().message}});
    return EventsOutcome::kDone;
  }
  try {
    // Not waited for: acks are cumulative, the next one supersedes a lost one.
    client_->publish(mqtt::make_message(msg::topic(box_id, msg::Topic::kAcks), *ack, 1, false));
  } catch (const std::exception& e) {
    deps_.log.warn("ack publish failed", {{"box", box_id}, {"error", e.what()}});
  }
  return EventsOutcome::kDone;
}

void MqttBridge::publish_config_now(const std::string& box_id) {
  const auto now = deps_.clock.wall_ms();
  auto config =
      deps_.db.with_transaction([&](pqxx::work& tx) -> Result<std::optional<msg::Config>> {
        return build_box_config(tx, box_id, now);
      });
  if (!config.ok()) {
    deps_.log.error("building box config failed",
                    {{"box", box_id}, {"error", config.error().message}});
    return;
  }
  if (!*config) return;  // unknown or decommissioned
  auto payload = msg::serialize(msg::make_envelope(box_id, now, **config));
  if (!payload.ok()) {
    deps_.log.error("box config not serialisable",
                    {{"box", box_id}, {"error", payload.error().message}});
    return;
  }
  if (!publish_and_wait(msg::topic(box_id, msg::Topic::kConfig), *payload, /*retained=*/true)) {
    deps_.log.warn("box config not published; retried after reconnect",
                   {{"box", box_id}, {"revision", (*config)->revision}});
    return;
  }
  const auto revision = (*config)->revision;
  auto marked = deps_.db.with_transaction([&](pqxx::work& tx) -> Status {
    mark_config_published(tx, box_id, revision);
    return ok_status();
  });
  if (!marked.ok()) {
    deps_.log.error("marking config published failed",
                    {{"box", box_id}, {"error", marked.error().message}});
  }
  deps_.log.info("box config published", {{"box", box_id}, {"revision", revision}});
}

void MqttBridge::publish_command_now(const std::string& box_id, const msg::Command& command) {
  const auto now = deps_.clock.wall_ms();
  auto payload = msg::serialize(msg::make_envelope(box_id, now, command));
  const bool sent =
      payload.ok() && publish_and_wait(msg::topic(box_id, msg::Topic::kCommands), *payload, false);
  auto r = deps_.db.with_transaction([&](pqxx::work& tx) -> Status {
    if (sent) {
      tx.exec_params("UPDATE box_commands SET published_at = $2::timestamptz WHERE id = $1",
                     command.id, ts(now));
    } else {
      // A command that could not be handed to the broker is finished as not delivered; staff
      // see it and may try again, rather than have it run unexpectedly much later.
      tx.exec_params(
          "UPDATE box_commands SET result_ok = false, result_code = 'not_delivered', "
          "result_message = 'the controller could not publish the command', "
          "result_at = $2::timestamptz WHERE id = $1 AND result_at IS NULL",
          command.id, ts(now));
    }
    return ok_status();
  });
  if (!r.ok()) {
    deps_.log.error("recording command publication failed",
                    {{"box", box_id}, {"command", command.id}, {"error", r.error().message}});
  }
  deps_.log.info("command published", {{"box", box_id},
                                       {"command", command.id},
                                       {"op", msg::to_string(command.op)},
                                       {"sent", sent ? "true" : "false"}});
}

}  // namespace reclothes::controller
