#include "reclothes/firmware/sync_engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <utility>

namespace reclothes::firmware {

namespace {

// Error messages from the parser are bounded already; this keeps a log line of ours bounded too.
std::string clip(std::string_view text, std::size_t max = 300) {
  if (text.size() <= max) return std::string(text);
  return std::string(text.substr(0, max)) + "...";
}

std::string clip_message(std::string text) {
  // CommandResult::message is at most kMaxDetailBytes; cut at a UTF-8 boundary.
  if (text.size() <= msg::kMaxDetailBytes) return text;
  std::size_t cut = msg::kMaxDetailBytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  text.resize(cut);
  return text;
}

}  // namespace

// ---- SendWindow ---------------------------------------------------------------------------------

void SendWindow::reset(std::uint64_t acked_upto, Clock::Monotonic now) {
  acked_ = acked_upto;
  next_ = acked_upto + 1;
  progress_at_ = now;
}

std::size_t SendWindow::room() const {
  const std::uint64_t flying = in_flight();
  if (flying >= window_events_) return 0;
  return window_events_ - static_cast<std::size_t>(flying);
}

void SendWindow::sent_through(std::uint64_t seq, Clock::Monotonic now) {
  if (seq < next_) return;
  // The ack timer measures from the moment something is in flight, not from the last idle ack.
  if (in_flight() == 0) progress_at_ = now;
  next_ = seq + 1;
}

bool SendWindow::on_ack(std::uint64_t upto, Clock::Monotonic now) {
  if (upto <= acked_) return false;
  acked_ = upto;
  if (next_ <= acked_) next_ = acked_ + 1;
  progress_at_ = now;
  return true;
}

bool SendWindow::ack_overdue(Clock::Monotonic now) const {
  return in_flight() > 0 && now - progress_at_ >= ack_timeout_;
}

void SendWindow::rewind(Clock::Monotonic now) {
  next_ = acked_ + 1;
  progress_at_ = now;
}

// ---- SyncEngine ---------------------------------------------------------------------------------

SyncEngine::SyncEngine(SyncSettings settings, Journal& journal, Mailbox& mailbox,
                       const Clock& clock)
    : settings_(std::move(settings)),
      journal_(journal),
      mailbox_(mailbox),
      clock_(clock),
      window_(settings_.window_events, settings_.ack_timeout) {}

Result<std::unique_ptr<SyncEngine>> SyncEngine::create(SyncSettings settings, Journal& journal,
                                                       Mailbox& mailbox, const Clock& clock) {
  if (!is_valid_box_id(settings.box_id)) {
    return make_error(
        ErrorCode::kInvalidArgument,
        "sync: invalid box id \"" + clip(settings.box_id, 40) + "\" (1..32 of [A-Za-z0-9_-])");
  }
  // A status message that serialize() refuses would mean no online marker ever: check now.
  {
    msg::Status probe{false, settings.firmware_version};
    auto payload = msg::serialize(msg::make_envelope(settings.box_id, 0, probe));
    if (!payload.ok()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "sync: invalid firmware version: " + payload.error().message);
    }
  }
  if (settings.batch_events == 0 || settings.batch_events > msg::kMaxEventsPerBatch) {
    return make_error(ErrorCode::kInvalidArgument,
                      "sync: batch_events must be 1.." + std::to_string(msg::kMaxEventsPerBatch) +
                          ", got " + std::to_string(settings.batch_events));
  }
  if (settings.window_events < settings.batch_events) {
    return make_error(ErrorCode::kInvalidArgument, "sync: window_events (" +
                                                       std::to_string(settings.window_events) +
                                                       ") must be at least batch_events (" +
                                                       std::to_string(settings.batch_events) + ")");
  }
  using std::chrono::milliseconds;
  if (settings.ack_timeout <= milliseconds(0) || settings.state_interval <= milliseconds(0) ||
      settings.state_min_gap < milliseconds(0) || settings.command_max_age <= milliseconds(0) ||
      settings.prune_interval <= milliseconds(0)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "sync: ack_timeout, state_interval, command_max_age and prune_interval must "
                      "be positive");
  }
  if (settings.max_pending_results == 0) {
    return make_error(ErrorCode::kInvalidArgument, "sync: max_pending_results must be >= 1");
  }
  RC_ASSIGN_OR_RETURN(std::uint64_t acked, journal.acked_upto());
  std::unique_ptr<SyncEngine> engine(new SyncEngine(std::move(settings), journal, mailbox, clock));
  engine->window_.reset(acked, clock.monotonic());
  engine->stats_.acked_upto = acked;
  engine->pruned_at_ = clock.monotonic();
  return engine;
}

std::string SyncEngine::will_topic() const {
  return msg::topic(settings_.box_id, msg::Topic::kStatus);
}

Result<std::string> SyncEngine::will_payload() const {
  return msg::serialize(msg::make_envelope(settings_.box_id, clock_.wall_ms(),
                                           msg::Status{false, settings_.firmware_version}));
}

Status SyncEngine::publish_body(SyncTransport& transport, msg::Topic leaf, msg::Body body,
                                bool retained) {
  RC_ASSIGN_OR_RETURN(
      std::string payload,
      msg::serialize(msg::make_envelope(settings_.box_id, clock_.wall_ms(), std::move(body))));
  return transport.publish(msg::topic(settings_.box_id, leaf), std::move(payload), retained);
}

void SyncEngine::on_connected(SyncTransport& transport) {
  connected_ = true;
  stats_.connected = true;
  ++stats_.connects;
  // Subscribing again on every connect costs little and makes a lost broker session harmless.
  for (msg::Topic leaf : {msg::Topic::kAcks, msg::Topic::kCommands, msg::Topic::kConfig}) {
    const std::string topic = msg::topic(settings_.box_id, leaf);
    if (Status s = transport.subscribe(topic); !s.ok()) {
      spdlog::warn("sync: cannot subscribe to {}: {}", topic, s.error().to_string());
    }
  }
  if (Status s = publish_body(transport, msg::Topic::kStatus,
                              msg::Status{true, settings_.firmware_version}, true);
      !s.ok()) {
    spdlog::warn("sync: cannot publish status online: {}", s.error().to_string());
  }
  // Whatever was in flight may have died with the connection: resend from the last ack.
  if (window_.in_flight() > 0) {
    ++stats_.rewinds;
    spdlog::info("sync: resending from seq {} after (re)connect ({} events were in flight)",
                 window_.acked() + 1, window_.in_flight());
  }
  window_.rewind(clock_.monotonic());
  // The broker re-sends the retained config after the subscribe; judge it by the applied revision
  // only, so a revision forwarded but not applied before (a full mailbox) gets another chance.
  highest_config_forwarded_ = 0;
  state_due_ = true;
  note_backlog();
}

void SyncEngine::on_disconnected() {
  if (!connected_) return;
  connected_ = false;
  stats_.connected = false;
  ++stats_.disconnects;
}

void SyncEngine::note_backlog() {
  auto backlog = journal_.backlog();
  if (!backlog.ok()) return;
  if (*backlog > 0 && !backlog_reported_) {
    backlog_reported_ = true;
    spdlog::info("sync: backlog of {} events to send (acked up to seq {})", *backlog,
                 window_.acked());
  }
}

void SyncEngine::on_message(SyncTransport& transport, std::string_view topic,
                            std::string_view payload) {
  auto envelope = msg::parse_received(topic, payload);
  if (!envelope.ok()) {
    ++stats_.rejected_messages;
    spdlog::warn("sync: dropped message on {} ({} bytes): {}", clip(topic, 200), payload.size(),
                 envelope.error().to_string());
    return;
  }
  auto parsed_topic = msg::parse_topic(topic);
  if (!parsed_topic.ok() || parsed_topic->box_id != settings_.box_id) {
    ++stats_.rejected_messages;
    spdlog::warn("sync: dropped message for another box on {}", clip(topic, 200));
    return;
  }
  switch (parsed_topic->leaf) {
    case msg::Topic::kAcks:
      handle_ack(*envelope);
      return;
    case msg::Topic::kCommands:
      handle_command(transport, *envelope);
      return;
    case msg::Topic::kConfig:
      handle_config(*envelope);
      return;
    default:
      // Our own outbound leaves; the box does not subscribe to them.
      ++stats_.rejected_messages;
      spdlog::warn("sync: dropped message on {}: not a topic the box reads", clip(topic, 200));
      return;
  }
}

void SyncEngine::handle_ack(const msg::Envelope& envelope) {
  const std::uint64_t upto = std::get<msg::Ack>(envelope.body).upto;
  if (upto <= window_.acked()) {
    spdlog::debug("sync: ack upto {} is old (acked up to {}), ignored", upto, window_.acked());
    return;
  }
  // The journal refuses an ack beyond its last seq: a controller bug must not drop events.
  if (Status s = journal_.mark_acked(upto); !s.ok()) {
    ++stats_.rejected_messages;
    spdlog::error("sync: ack upto {} refused: {}", upto, s.error().to_string());
    return;
  }
  window_.on_ack(upto, clock_.monotonic());
  stats_.acked_upto = upto;
  spdlog::debug("sync: acked up to seq {}", upto);
  if (backlog_reported_) {
    auto backlog = journal_.backlog();
    if (backlog.ok() && *backlog == 0) {
      backlog_reported_ = false;
      spdlog::info("sync: backlog drained, every event up to seq {} is acked", upto);
    }
  }
}

void SyncEngine::handle_command(SyncTransport& transport, const msg::Envelope& envelope) {
  msg::Command command = std::get<msg::Command>(envelope.body);
  ++stats_.commands_received;
  spdlog::info("sync: command {} ({})", command.id, msg::to_string(command.op));

  if (auto pending = pending_commands_.find(command.id); pending != pending_commands_.end()) {
    // Handed to the main loop and its result not seen yet (it may be journaled already): answer
    // after the first result, so the controller sees the outcome before the duplicate.
    ++stats_.duplicate_commands;
    ++pending->second;
    spdlog::info("sync: command {} is being executed; its duplicate is answered with the result",
                 command.id);
    return;
  }

  // At most once: an id with a stored result was executed (or refused) before.
  auto stored = journal_.command_result(command.id);
  if (!stored.ok()) {
    // Without knowing, executing could run it twice; the controller retries with the same id.
    spdlog::error("sync: cannot look up command {}: {}; dropped (the controller retries)",
                  command.id, stored.error().to_string());
    return;
  }
  if (stored->has_value()) {
    ++stats_.duplicate_commands;
    const msg::CommandResult& first = **stored;
    spdlog::info("sync: command {} was executed before (code {}); answering duplicate", command.id,
                 first.code);
    queue_result(msg::CommandResult{
        command.id, first.ok, "duplicate",
        clip_message("already executed with code " + first.code + ": " + first.message)});
    publish_results(transport);
    return;
  }
  if (command.op == msg::CommandOp::kOpen || command.op == msg::CommandOp::kOpenAccess) {
    const std::int64_t age_ms = clock_.wall_ms() - envelope.ts_ms;
    if (age_ms > settings_.command_max_age.count()) {
      ++stats_.expired_commands;
      spdlog::warn("sync: open command {} is {} s old (limit {} s); refused as expired", command.id,
                   age_ms / 1000, settings_.command_max_age.count() / 1000);
      if (Status s = refuse_command(
              command, "expired",
              "the command is " + std::to_string(age_ms / 1000) + " s old; the limit is " +
                  std::to_string(settings_.command_max_age.count() / 1000) + " s");
          !s.ok()) {
        spdlog::error("sync: cannot record expired command {}: {}", command.id,
                      s.error().to_string());
      }
      publish_results(transport);
      return;
    }
  }
  if (command.op == msg::CommandOp::kConfigUpdate) {
    // Subscribing again makes the broker send the retained config now.
    const std::string topic = msg::topic(settings_.box_id, msg::Topic::kConfig);
    if (Status s = transport.subscribe(topic); !s.ok()) {
      spdlog::warn("sync: cannot re-subscribe to {}: {}", topic, s.error().to_string());
    }
    // The re-sent config is judged against the applied revision alone: one forwarded earlier
    // that the main loop did not apply goes to it again.
    highest_config_forwarded_ = 0;
  }
  const std::string id = command.id;
  if (!mailbox_.push_inbound(std::move(command))) {
    // QoS 1 acknowledged it already; the controller retries a command without a result.
    spdlog::error("sync: mailbox full, command {} dropped (the controller retries it)", id);
    return;
  }
  // Bounded like the mailbox: a main loop that never answers must not make this grow forever.
  if (pending_commands_.size() >= 2 * Mailbox::kMaxInbound) pending_commands_.clear();
  pending_commands_.emplace(id, 0);
}

Status SyncEngine::refuse_command(const msg::Command& command, std::string code,
                                  std::string message) {
  msg::CommandResult result{command.id, false, std::move(code), clip_message(std::move(message))};
  msg::Event event;
  event.kind = msg::EventKind::kCommandExecuted;
  event.at_ms = clock_.wall_ms();
  event.command_id = command.id;
  event.compartment = command.compartment;
  event.reason = result.code;
  reclothes::Status written = journal_.transact([&](Txn& txn) -> reclothes::Status {
    RC_TRY(txn.record_command(result));
    RC_TRY(txn.append_event(event));
    return ok_status();
  });
  RC_TRY(written);
  queue_result(std::move(result));
  return ok_status();
}

Result<std::uint64_t> SyncEngine::applied_config_revision() {
  RC_ASSIGN_OR_RETURN(std::optional<std::string> text,
                      journal_.setting(std::string(kConfigRevisionSetting)));
  if (!text.has_value() || text->empty()) return std::uint64_t{0};
  std::uint64_t revision = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), revision);
  if (ec != std::errc() || end != text->data() + text->size()) {
    return make_error(ErrorCode::kDataLoss, "journal setting config_revision is not a number: \"" +
                                                clip(*text, 40) + "\"");
  }
  return revision;
}

void SyncEngine::handle_config(const msg::Envelope& envelope) {
  msg::Config config = std::get<msg::Config>(envelope.body);
  auto applied = applied_config_revision();
  if (!applied.ok()) {
    spdlog::error("sync: cannot read the applied config revision: {}", applied.error().to_string());
    return;
  }
  const std::uint64_t known = std::max(*applied, highest_config_forwarded_);
  if (config.revision <= known) {
    spdlog::debug("sync: config revision {} ignored (applied {}, forwarded {})", config.revision,
                  *applied, highest_config_forwarded_);
    return;
  }
  const std::uint64_t revision = config.revision;
  if (!mailbox_.push_inbound(std::move(config))) {
    // The retained config comes back on the next (re)subscribe.
    spdlog::error("sync: mailbox full, config revision {} dropped until the next connect",
                  revision);
    return;
  }
  highest_config_forwarded_ = revision;
  ++stats_.configs_forwarded;
  spdlog::info("sync: config revision {} handed to the main loop (applied {})", revision, *applied);
}

void SyncEngine::queue_result(msg::CommandResult result) {
  if (pending_results_.size() >= settings_.max_pending_results) {
    spdlog::warn(
        "sync: too many unsent command results; dropping the one for {} (its "
        "command_executed event still travels)",
        pending_results_.front().command_id);
    pending_results_.pop_front();
  }
  pending_results_.push_back(std::move(result));
}

void SyncEngine::publish_results(SyncTransport& transport) {
  while (auto result = mailbox_.pop_result()) {
    std::size_t duplicates = 0;
    if (auto it = pending_commands_.find(result->command_id); it != pending_commands_.end()) {
      duplicates = it->second;
      pending_commands_.erase(it);
    }
    msg::CommandResult first = *result;
    queue_result(std::move(*result));
    for (std::size_t i = 0; i < duplicates; ++i) {
      queue_result(msg::CommandResult{
          first.command_id, first.ok, "duplicate",
          clip_message("already executed with code " + first.code + ": " + first.message)});
    }
  }
  if (!connected_) return;
  while (!pending_results_.empty()) {
    const msg::CommandResult& result = pending_results_.front();
    Status s = publish_body(transport, msg::Topic::kCommandResults, result, false);
    if (!s.ok()) {
      if (s.error().code == ErrorCode::kInvalidArgument) {
        spdlog::error("sync: command result for {} cannot be serialised, dropped: {}",
                      result.command_id, s.error().to_string());
        pending_results_.pop_front();
        continue;
      }
      spdlog::debug("sync: command result for {} not sent yet: {}", result.command_id,
                    s.error().to_string());
      return;
    }
    spdlog::info("sync: command result {} {} published", result.command_id, result.code);
    ++stats_.results_published;
    pending_results_.pop_front();
  }
}

Result<std::size_t> SyncEngine::publish_batch(SyncTransport& transport,
                                              const std::vector<msg::Event>& events,
                                              std::size_t first, std::size_t last) {
  msg::Events batch;
  batch.events.assign(events.begin() + static_cast<std::ptrdiff_t>(first),
                      events.begin() + static_cast<std::ptrdiff_t>(last));
  auto payload = msg::serialize(msg::make_envelope(settings_.box_id, clock_.wall_ms(), batch));
  if (!payload.ok()) {
    if (payload.error().code == ErrorCode::kResourceExhausted && last - first > 1) {
      // Very long details: split in half and send both halves (docs/mqtt-contract.md, rule 2).
      const std::size_t middle = first + (last - first) / 2;
      RC_ASSIGN_OR_RETURN(std::size_t left, publish_batch(transport, events, first, middle));
      if (left < middle - first) return left;
      RC_ASSIGN_OR_RETURN(std::size_t right, publish_batch(transport, events, middle, last));
      return left + right;
    }
    return std::move(payload).error();
  }
  Status s = transport.publish(msg::topic(settings_.box_id, msg::Topic::kEvents),
                               std::move(payload).value(), false);
  if (!s.ok()) {
    spdlog::debug("sync: events {}..{} not sent yet: {}", batch.events.front().seq,
                  batch.events.back().seq, s.error().to_string());
    return std::size_t{0};
  }
  ++stats_.batches_sent;
  stats_.events_sent += last - first;
  return last - first;
}

bool SyncEngine::send_events(SyncTransport& transport) {
  constexpr int kBatchesPerPoll = 4;  // then let the caller look at inbound messages
  for (int batches = 0; batches < kBatchesPerPoll; ++batches) {
    const std::size_t room = window_.room();
    if (room == 0) return false;
    const std::size_t limit = std::min(room, settings_.batch_events);
    auto events = journal_.events_after(window_.next() - 1, limit);
    if (!events.ok()) {
      spdlog::error("sync: cannot read the outbox: {}", events.error().to_string());
      return false;
    }
    if (events->empty()) return false;
    // A batch must be consecutive; the journal guarantees it, but never send a broken batch.
    std::size_t count = 1;
    while (count < events->size() && (*events)[count].seq == (*events)[count - 1].seq + 1) {
      ++count;
    }
    if (count < events->size()) {
      spdlog::error("sync: outbox has a gap after seq {}", (*events)[count - 1].seq);
    }
    auto sent = publish_batch(transport, *events, 0, count);
    if (!sent.ok()) {
      const std::uint64_t seq = (*events)[0].seq;
      if (stalled_seq_ != seq) {
        stalled_seq_ = seq;
        spdlog::error("sync: events from seq {} cannot be serialised, sending is stuck: {}", seq,
                      sent.error().to_string());
      }
      return false;
    }
    if (*sent > 0) window_.sent_through((*events)[*sent - 1].seq, clock_.monotonic());
    if (*sent < count) return false;  // the transport refused; try on a later poll
    if (count < limit) return false;  // caught up with the journal
  }
  return true;
}

void SyncEngine::report_state(SyncTransport& transport) {
  std::optional<msg::State> state = mailbox_.state();
  if (!state.has_value()) return;
  msg::State report = std::move(*state);
  // The journal's own numbers are fresher than the main loop's copy, and a change in them is a
  // change worth reporting: they tell an operator how far behind the box is.
  if (auto last = journal_.last_seq(); last.ok()) report.last_seq = *last;
  if (auto backlog = journal_.backlog(); backlog.ok()) report.backlog = *backlog;
  const Clock::Monotonic now = clock_.monotonic();
  const bool changed = !last_state_.has_value() || report != *last_state_;
  const bool due = state_due_ || now - state_at_ >= settings_.state_interval ||
                   (changed && now - state_at_ >= settings_.state_min_gap);
  if (!due) return;
  Status s = publish_body(transport, msg::Topic::kState, report, true);
  if (!s.ok() && s.error().code != ErrorCode::kInvalidArgument &&
      s.error().code != ErrorCode::kResourceExhausted) {
    return;  // not connected or the queue is full: try on a later poll
  }
  if (!s.ok()) {
    // Not worth retrying until the state changes.
    spdlog::error("sync: state report cannot be serialised: {}", s.error().to_string());
  } else {
    ++stats_.state_reports;
  }
  last_state_ = std::move(report);
  state_at_ = now;
  state_due_ = false;
}

bool SyncEngine::poll(SyncTransport& transport) {
  const Clock::Monotonic now = clock_.monotonic();
  if (now - pruned_at_ >= settings_.prune_interval) {
    pruned_at_ = now;
    if (auto pruned = journal_.prune(clock_.wall_ms()); !pruned.ok()) {
      spdlog::warn("sync: pruning the journal failed: {}", pruned.error().to_string());
    } else if (*pruned > 0) {
      spdlog::info("sync: pruned {} acked events past retention", *pruned);
    }
  }
  publish_results(transport);
  if (!connected_) return false;
  if (window_.ack_overdue(now)) {
    ++stats_.rewinds;
    spdlog::warn("sync: no ack for {} ms with {} events in flight; resending from seq {}",
                 settings_.ack_timeout.count(), window_.in_flight(), window_.acked() + 1);
    window_.rewind(now);
  }
  const bool more = send_events(transport);
  report_state(transport);
  return more;
}

std::optional<std::uint64_t> SyncEngine::wait_after() const {
  if (!connected_ || window_.room() == 0) return std::nullopt;
  return window_.next() - 1;
}

Status SyncEngine::publish_offline(SyncTransport& transport) {
  return publish_body(transport, msg::Topic::kStatus,
                      msg::Status{false, settings_.firmware_version}, true);
}

}  // namespace reclothes::firmware
