#include "reclothes/firmware/box.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <thread>
#include <utility>

#include "reclothes/common/box_code.h"
#include "reclothes/common/bytes.h"
#include "reclothes/firmware/authorise.h"
#include "reclothes/firmware/text.h"

namespace reclothes::firmware {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

// Journal settings written by the Box.
constexpr const char* kSettingMaintenance = "maintenance";
constexpr const char* kSettingRevision = "config_revision";
constexpr const char* kSettingControllerKeys = "controller_keys";

// What the one-line display says for a rejection reason (at most 32 characters).
std::string short_reason(std::string_view reason) {
  if (reason == "malformed") return "Code not recognised";
  if (reason == "unknown_key" || reason == "key_retired" || reason == "bad_signature") {
    return "Code not valid";
  }
  if (reason == "not_yet_valid") return "Code not valid yet";
  if (reason == "expired") return "Code expired";
  if (reason == "wrong_box") return "Code is for another box";
  if (reason == reason::kWrongCompartment) return "Wrong compartment";
  if (reason == reason::kRevoked) return "Code cancelled";
  if (reason == reason::kAlreadyUsed) return "Code already used";
  if (reason == reason::kNotReserved) return "No reservation here";
  if (reason == reason::kCompartmentBusy || reason == "door_open") return "Compartment busy";
  if (reason == reason::kOutOfService) return "Compartment out of order";
  if (reason == reason::kMaintenance) return "Box in maintenance";
  if (reason == reason::kBoxCode) return "Box code: use the app";
  return "Code refused";
}

std::string keys_to_json(const std::vector<msg::TrustedKey>& keys) {
  nlohmann::json j = nlohmann::json::array();
  for (const msg::TrustedKey& k : keys) {
    j.push_back({{"key_id", k.key_id}, {"public_pem", k.public_pem}, {"retired", k.retired}});
  }
  return j.dump();
}

Result<std::vector<msg::TrustedKey>> keys_from_json(const std::string& text) {
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  std::vector<msg::TrustedKey> keys;
  if (!j.is_array()) {
    return make_error(ErrorCode::kDataLoss, "journal setting controller_keys is not a JSON array");
  }
  for (const auto& k : j) {
    if (!k.is_object() || !k.contains("key_id") || !k["key_id"].is_number_unsigned() ||
        !k.contains("public_pem") || !k["public_pem"].is_string() || !k.contains("retired") ||
        !k["retired"].is_boolean() || k["key_id"].get<std::uint64_t>() > 0xffff) {
      return make_error(ErrorCode::kDataLoss, "journal setting controller_keys is malformed");
    }
    keys.push_back(msg::TrustedKey{static_cast<std::uint16_t>(k["key_id"].get<std::uint64_t>()),
                                   k["public_pem"].get<std::string>(), k["retired"].get<bool>()});
  }
  return keys;
}

int fill_band(int percent) {
  int band = 0;
  for (int t : Box::kFillThresholds) band += percent >= t ? 1 : 0;
  return band;
}

bool visit_in_progress(CompartmentState s) {
  return s == CompartmentState::kUnlocked || s == CompartmentState::kOpen ||
         s == CompartmentState::kAjar;
}

}  // namespace

// ---- construction -------------------------------------------------------------------------------

Box::Box(const BoxConfig& config, hal::Cabinet cabinet, Journal& journal, Mailbox& mailbox,
         const Clock& clock)
    : config_(config),
      cabinet_(std::move(cabinet)),
      journal_(journal),
      mailbox_(mailbox),
      clock_(clock),
      door_fault_(config.compartments.size(), false) {}

Box::~Box() = default;

Result<std::unique_ptr<Box>> Box::create(const BoxConfig& config, hal::Cabinet cabinet,
                                         Journal& journal, Mailbox& mailbox, const Clock& clock) {
  if (!is_valid_box_id(config.box_id)) {
    return make_error(ErrorCode::kInvalidArgument, "box id \"" + config.box_id + "\" is invalid");
  }
  if (config.compartments.empty() || config.compartments.size() > 255) {
    return make_error(
        ErrorCode::kInvalidArgument,
        "the configuration has " + std::to_string(config.compartments.size()) + " compartments");
  }
  if (cabinet.compartments.size() != config.compartments.size()) {
    return make_error(ErrorCode::kInvalidArgument, "the cabinet has " +
                                                       std::to_string(cabinet.compartments.size()) +
                                                       " compartments but the configuration " +
                                                       std::to_string(config.compartments.size()));
  }
  for (std::size_t i = 0; i < cabinet.compartments.size(); ++i) {
    if (cabinet.compartments[i].lock == nullptr || cabinet.compartments[i].door == nullptr) {
      return make_error(ErrorCode::kInvalidArgument,
                        "compartment " + std::to_string(i + 1) + " has no lock or door device");
    }
    if (config.compartments[i].id != static_cast<int>(i + 1)) {
      return make_error(ErrorCode::kInvalidArgument, "compartment ids must be 1..N in order");
    }
  }
  std::unique_ptr<Box> box(new Box(config, std::move(cabinet), journal, mailbox, clock));

  RC_ASSIGN_OR_RETURN(auto maintenance, journal.setting(kSettingMaintenance));
  box->maintenance_ = maintenance.value_or("0") == "1";
  RC_ASSIGN_OR_RETURN(auto revision, journal.setting(kSettingRevision));
  if (revision) {
    try {
      box->config_revision_ = std::stoull(*revision);
    } catch (const std::exception&) {
      return make_error(ErrorCode::kDataLoss,
                        "journal setting config_revision is \"" + *revision + "\"");
    }
  }
  std::vector<msg::TrustedKey> controller_keys;
  RC_ASSIGN_OR_RETURN(auto stored_keys, journal.setting(kSettingControllerKeys));
  if (stored_keys) {
    RC_ASSIGN_OR_RETURN(controller_keys, keys_from_json(*stored_keys));
  }
  RC_TRY(box->rebuild_keys(controller_keys));
  return box;
}

// The trusted keys are the configuration file's (the provisioning bootstrap) plus the
// controller's latest config revision; a controller key with the same id replaces the file's
// (that is how the controller retires a bootstrap key). A controller key that does not load is
// skipped and logged, so one bad entry cannot lock every customer out.
Status Box::rebuild_keys(const std::vector<msg::TrustedKey>& controller_keys) {
  auto keys = std::make_unique<TrustedKeys>();
  for (const TrustedKeyConfig& k : config_.trusted_keys) {
    if (Status s = keys->add(k.key_id, k.public_key_pem, k.retired); !s.ok()) {
      return std::move(s).error().with_context("trusted key " + std::to_string(k.key_id));
    }
  }
  for (const msg::TrustedKey& k : controller_keys) {
    if (Status s = keys->add(k.key_id, k.public_pem, k.retired); !s.ok()) {
      spdlog::warn("controller key {} skipped: {}", k.key_id, s.error().to_string());
    }
  }
  keys_ = std::move(keys);
  return ok_status();
}

// ---- the transition engine ----------------------------------------------------------------------

Result<Outcome> Box::apply(int id, const CompartmentInput& input, std::int64_t at_ms,
                           Clock::Monotonic at, const ExtraWrite& extra) {
  CompartmentMachine next = machine(id);
  Outcome outcome = next.handle(input, at);
  if (!outcome.accepted) return outcome;

  bool has_events = false;
  std::optional<milliseconds> pulse_for;
  for (const Effect& e : outcome.effects) {
    has_events = has_events || std::holds_alternative<EmitEvent>(e);
    if (const auto* p = std::get_if<PulseLock>(&e)) pulse_for = p->duration;
  }
  if (outcome.changed || has_events || extra) {
    Status written = journal_.transact([&](Txn& t) -> Status {
      std::uint64_t unlocked_seq = 0;
      for (const Effect& e : outcome.effects) {
        const auto* emit = std::get_if<EmitEvent>(&e);
        if (emit == nullptr) continue;
        msg::Event event = emit->event;
        event.at_ms = at_ms;
        RC_ASSIGN_OR_RETURN(const std::uint64_t seq, t.append_event(std::move(event)));
        if (emit->event.kind == msg::EventKind::kUnlocked) unlocked_seq = seq;
      }
      if (outcome.changed) RC_TRY(t.save_compartment(next.record(at_ms)));
      if (outcome.reservation_consumed) RC_TRY(t.remove_reservation(id));
      if (pulse_for) {
        // The intent is committed with the `unlocked` event and before the pulse: after a crash
        // it says "this lock may have moved", and start() reports it instead of pulsing again.
        UnlockIntent intent;
        intent.compartment = id;
        intent.token_id = next.visit().token_id;
        intent.command_id = next.visit().command_id;
        intent.event_seq = unlocked_seq;
        intent.at_ms = at_ms;
        RC_TRY(t.begin_unlock(intent));
      }
      if (extra) RC_TRY(extra(t));
      return ok_status();
    });
    if (!written.ok()) {
      return std::move(written).error().with_context("compartment " + std::to_string(id));
    }
  }
  machine(id) = std::move(next);
  if (outcome.reservation_consumed) reservations_.erase(id);
  state_dirty_ = true;

  for (const Effect& e : outcome.effects) {
    if (const auto* s = std::get_if<ShowIndicator>(&e)) show(s->pattern, s->message, true);
  }
  if (pulse_for) RC_TRY(pulse(id, *pulse_for));
  return outcome;
}

Status Box::pulse(int id, milliseconds duration) {
  const Status pulsed = device(id).lock->pulse(duration);
  // The pulse returned, so its outcome is known (done, or failed): the intent is cleared either
  // way, and from here on the door sensor says what happened.
  const Status written = journal_.transact([&](Txn& t) { return t.end_unlock(id); });
  RC_TRY(written);
  if (!pulsed.ok()) {
    spdlog::error("compartment {}: lock pulse failed: {}", id, pulsed.error().to_string());
    return take_out_of_service(id, "lock pulse failed: " + pulsed.error().to_string());
  }
  return ok_status();
}

Status Box::take_out_of_service(int id, const std::string& why) {
  auto result = apply(id, SetOutOfService{true, truncate_utf8(why, msg::kMaxDetailBytes)},
                      clock_.wall_ms(), clock_.monotonic());
  if (!result.ok()) return std::move(result).error();
  show(hal::IndicatorPattern::kFault, "Door " + std::to_string(id) + " out of order", true);
  return ok_status();
}

// ---- start-up -----------------------------------------------------------------------------------

Status Box::start() {
  if (started_) return make_error(ErrorCode::kFailedPrecondition, "Box::start called twice");
  started_at_ = clock_.monotonic();
  const std::size_t n = config_.compartments.size();

  // 1. De-energise every lock before trusting anything else.
  std::vector<std::optional<std::string>> faults(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (Status s = cabinet_.compartments[i].lock->release(); !s.ok()) {
      faults[i] = "lock release failed at start-up: " + s.error().to_string();
    }
  }
  // 2. Read every door. Events queued before now are stale: the current level is the truth.
  std::vector<bool> door_open(n, false);
  for (std::size_t i = 0; i < n; ++i) {
    hal::DoorSensor& door = *cabinet_.compartments[i].door;
    for (int k = 0; k < 1024; ++k) {
      auto ev = door.poll_event(milliseconds(0));
      if (!ev.ok() || !ev->has_value()) break;
    }
    auto open = door.is_open();
    if (open.ok()) {
      door_open[i] = *open;
    } else {
      door_fault_[i] = true;
      faults[i] = "door sensor failed at start-up: " + open.error().to_string();
    }
  }
  // 3. Restore the compartments as the journal left them.
  RC_TRY(restore_compartments());
  // 4. Unlocks whose outcome is unknown: report, never repeat.
  std::string notes;
  RC_TRY(recover_unlock_intents(notes));
  // 5. Broken hardware goes out of service; the sensors decide the rest.
  for (std::size_t i = 0; i < n; ++i) {
    const int id = static_cast<int>(i + 1);
    if (faults[i]) {
      spdlog::error("compartment {}: {}", id, *faults[i]);
      RC_TRY(take_out_of_service(id, *faults[i]));
    }
    if (door_fault_[i]) continue;
    if (door_open[i] != machine(id).door_open()) {
      const CompartmentInput input =
          door_open[i] ? CompartmentInput{DoorOpened{}} : CompartmentInput{DoorClosed{}};
      auto applied = apply(id, input, clock_.wall_ms(), clock_.monotonic());
      if (!applied.ok()) return std::move(applied).error();
      notes += "; door " + std::to_string(id) + (door_open[i] ? " found open" : " found closed");
    }
  }
  // 6. The boot event, after the recovery events it summarises.
  std::string detail = "reclothes-box " + std::string(kFirmwareVersion) + ", " + std::to_string(n) +
                       " compartments" + (maintenance_ ? ", maintenance mode" : "") + notes;
  msg::Event boot;
  boot.kind = msg::EventKind::kBoot;
  boot.at_ms = clock_.wall_ms();
  boot.detail = truncate_utf8(detail, msg::kMaxDetailBytes);
  const Status written = journal_.transact([&](Txn& t) -> Status {
    RC_TRY(t.append_event(boot));
    return ok_status();
  });
  RC_TRY(written);
  spdlog::info("box {} started: {}", config_.box_id, detail);

  started_ = true;
  RC_TRY(check_tamper());
  RC_TRY(check_fill_levels(true));
  refresh_indicator();
  publish_state_if_due(true);
  return ok_status();
}

Status Box::restore_compartments() {
  RC_ASSIGN_OR_RETURN(const std::vector<msg::Reservation> reservations, journal_.reservations());
  reservations_.clear();
  for (const msg::Reservation& r : reservations) reservations_[r.compartment] = r;
  RC_ASSIGN_OR_RETURN(const std::vector<CompartmentRecord> records, journal_.compartments());
  std::map<int, CompartmentRecord> by_id;
  for (const CompartmentRecord& r : records) by_id[r.id] = r;

  const Clock::Monotonic now = clock_.monotonic();
  machines_.clear();
  for (const CompartmentConfig& c : config_.compartments) {
    CompartmentTiming timing;
    timing.pulse = c.pulse;
    timing.door_open_after_unlock = config_.timeouts.door_open_after_unlock;
    timing.door_ajar = config_.timeouts.door_ajar;
    CompartmentRecord record;
    record.id = c.id;
    record.state = "free";
    if (auto it = by_id.find(c.id); it != by_id.end()) record = it->second;
    RC_ASSIGN_OR_RETURN(
        CompartmentMachine m,
        CompartmentMachine::restore(c.id, timing, record, reservations_.count(c.id) != 0, now));
    machines_.push_back(std::move(m));
  }
  for (const auto& [id, record] : by_id) {
    if (id < 1 || id > static_cast<int>(config_.compartments.size())) {
      spdlog::warn("journal has compartment {} ({}), which the configuration does not", id,
                   record.state);
    }
  }
  return ok_status();
}

Status Box::recover_unlock_intents(std::string& notes) {
  RC_ASSIGN_OR_RETURN(const std::vector<UnlockIntent> intents, journal_.unlock_intents());
  for (const UnlockIntent& intent : intents) {
    msg::Event e;
    e.kind = msg::EventKind::kUnlockUnknown;
    e.at_ms = clock_.wall_ms();
    if (intent.compartment >= 1 && intent.compartment <= 255) e.compartment = intent.compartment;
    e.token_id = intent.token_id;
    e.command_id = intent.command_id;
    e.detail = "unlock of event " + std::to_string(intent.event_seq) +
               " was not confirmed before the restart; not pulsed again";
    const Status written = journal_.transact([&](Txn& t) -> Status {
      RC_TRY(t.append_event(e));
      return t.end_unlock(intent.compartment);
    });
    RC_TRY(written);
    spdlog::warn("compartment {}: unlock outcome unknown after restart (event {}); not repeated",
                 intent.compartment, intent.event_seq);
    notes += "; unlock of compartment " + std::to_string(intent.compartment) + " unknown";
  }
  return ok_status();
}

// ---- the loop -----------------------------------------------------------------------------------

Status Box::step() {
  if (!started_) return make_error(ErrorCode::kFailedPrecondition, "Box::step before start");
  for (int i = 0; i < kMaxInboundPerStep; ++i) {
    auto item = mailbox_.pop_inbound();
    if (!item) break;
    RC_TRY(handle_inbound(*item));
  }
  RC_TRY(poll_doors());
  RC_TRY(check_timers());
  RC_TRY(expire_reservations());
  RC_TRY(advance_courier_session());
  RC_TRY(check_tamper());
  RC_TRY(check_fill_levels(false));
  RC_TRY(check_camera());
  RC_TRY(advance_courier_session());
  prune_journal_if_due();
  refresh_indicator();
  publish_state_if_due(false);
  return ok_status();
}

void Box::prune_journal_if_due() {
  const Clock::Monotonic now = clock_.monotonic();
  if (last_prune_ && now - *last_prune_ < kPruneInterval) return;
  last_prune_ = now;
  // Pruning only tidies up (acked events past their retention, expired used-token ids); a
  // failure is logged and tried again next interval, it must not stop the box.
  auto pruned = journal_.prune(clock_.wall_ms());
  if (!pruned.ok()) {
    spdlog::warn("journal prune failed: {}", pruned.error().to_string());
  } else if (*pruned > 0) {
    spdlog::info("journal: pruned {} acked events", *pruned);
  }
}

Status Box::run(const std::atomic<bool>& stop_requested) {
  while (!stop_requested.load()) {
    RC_TRY(step());
    std::this_thread::sleep_for(step_interval());
  }
  return ok_status();
}

milliseconds Box::step_interval() const {
  const std::uint32_t fps = config_.camera ? config_.camera->fps : 10;
  return milliseconds(1000 / std::max<std::uint32_t>(fps, 1));
}

void Box::stop() {
  for (hal::Compartment& c : cabinet_.compartments) {
    if (Status s = c.lock->release(); !s.ok()) {
      spdlog::error("releasing a lock at stop failed: {}", s.error().to_string());
    }
  }
  show(hal::IndicatorPattern::kMaintenance, "Out of service", false);
}

Status Box::poll_doors() {
  for (const CompartmentConfig& c : config_.compartments) {
    const int id = c.id;
    hal::DoorSensor& door = *device(id).door;
    const std::size_t index = static_cast<std::size_t>(id - 1);
    if (door_fault_[index]) {
      // A failed sensor is retried every step; when it reads again, the queued events are stale
      // and the level is the truth.
      auto open = door.is_open();
      if (!open.ok()) continue;
      for (int k = 0; k < 1024; ++k) {
        auto ev = door.poll_event(milliseconds(0));
        if (!ev.ok() || !ev->has_value()) break;
      }
      door_fault_[index] = false;
      spdlog::info("compartment {}: door sensor works again", id);
      auto back = apply(id, SetOutOfService{false, "door sensor works again"}, clock_.wall_ms(),
                        clock_.monotonic());
      if (!back.ok()) return std::move(back).error();
      if (*open != machine(id).door_open()) {
        const CompartmentInput input =
            *open ? CompartmentInput{DoorOpened{}} : CompartmentInput{DoorClosed{}};
        auto applied = apply(id, input, clock_.wall_ms(), clock_.monotonic());
        if (!applied.ok()) return std::move(applied).error();
      }
      continue;
    }
    for (int k = 0; k < kMaxDoorEventsPerStep; ++k) {
      auto ev = door.poll_event(milliseconds(0));
      if (!ev.ok()) {
        door_fault_[index] = true;
        spdlog::error("compartment {}: door sensor failed: {}", id, ev.error().to_string());
        RC_TRY(take_out_of_service(id, "door sensor failed: " + ev.error().to_string()));
        break;
      }
      if (!ev->has_value()) break;
      const hal::DoorEvent& e = **ev;
      const CompartmentInput input = e.kind == hal::DoorEventKind::kOpened
                                         ? CompartmentInput{DoorOpened{}}
                                         : CompartmentInput{DoorClosed{}};
      auto applied = apply(id, input, e.wall_ms, e.at);
      if (!applied.ok()) return std::move(applied).error();
    }
  }
  return ok_status();
}

Status Box::check_timers() {
  const Clock::Monotonic now = clock_.monotonic();
  for (const CompartmentConfig& c : config_.compartments) {
    const auto due = machine(c.id).deadline();
    if (!due || now < *due) continue;
    auto applied = apply(c.id, Tick{}, clock_.wall_ms(), now);
    if (!applied.ok()) return std::move(applied).error();
  }
  return ok_status();
}

Status Box::expire_reservations() {
  const std::int64_t now_s = clock_.wall_seconds();
  const std::int64_t grace = config_.timeouts.reservation_grace.count();
  std::vector<int> expired;
  for (const auto& [id, r] : reservations_) {
    if (now_s >= r.until + grace) expired.push_back(id);
  }
  for (int id : expired) {
    if (id < 1 || id > static_cast<int>(machines_.size())) {
      const Status written = journal_.transact([&](Txn& t) { return t.remove_reservation(id); });
      RC_TRY(written);
      reservations_.erase(id);
      continue;
    }
    auto applied = apply(id, ReservationChanged{false}, clock_.wall_ms(), clock_.monotonic(),
                         [&](Txn& t) { return t.remove_reservation(id); });
    if (!applied.ok()) return std::move(applied).error();
    reservations_.erase(id);
    spdlog::info("compartment {}: reservation expired", id);
  }
  return ok_status();
}

Status Box::check_tamper() {
  if (cabinet_.tamper == nullptr) return ok_status();
  auto read = cabinet_.tamper->is_tampered();
  // A switch that cannot be read is treated as tampering: a cut wire looks the same.
  const bool tampered = read.ok() ? *read : true;
  if (sensors_.tamper == tampered) return ok_status();
  const bool first = !sensors_.tamper.has_value();
  sensors_.tamper = tampered;
  state_dirty_ = true;
  if (first && !tampered) return ok_status();  // the normal state at boot is not news
  msg::Event e;
  e.kind = msg::EventKind::kTamper;
  e.at_ms = clock_.wall_ms();
  if (!read.ok()) {
    e.detail = truncate_utf8("tamper switch unreadable: " + read.error().to_string(),
                             msg::kMaxDetailBytes);
  } else {
    e.detail = tampered ? "service panel opened" : "service panel closed";
  }
  spdlog::warn("tamper: {}", *e.detail);
  return journal_.transact([&](Txn& t) -> Status {
    RC_TRY(t.append_event(e));
    return ok_status();
  });
}

Status Box::check_fill_levels(bool force) {
  const Clock::Monotonic now = clock_.monotonic();
  if (!force && last_fill_read_ && now - *last_fill_read_ < kFillInterval) return ok_status();
  last_fill_read_ = now;
  for (const CompartmentConfig& c : config_.compartments) {
    hal::FillLevelSensor* sensor = device(c.id).fill;
    if (!c.fill_sensor || sensor == nullptr) continue;
    auto percent = sensor->percent();
    if (!percent.ok()) {
      if (sensors_.fill_percent.erase(c.id) != 0) {
        spdlog::warn("compartment {}: fill sensor failed: {}", c.id, percent.error().to_string());
        state_dirty_ = true;
      }
      continue;
    }
    auto it = sensors_.fill_percent.find(c.id);
    const bool crossed =
        it != sensors_.fill_percent.end() && fill_band(it->second) != fill_band(*percent);
    if (it == sensors_.fill_percent.end() || it->second != *percent) state_dirty_ = true;
    sensors_.fill_percent[c.id] = *percent;
    if (!crossed) continue;
    msg::Event e;
    e.kind = msg::EventKind::kFillLevel;
    e.at_ms = clock_.wall_ms();
    e.compartment = c.id;
    e.fill_percent = *percent;
    const Status written = journal_.transact([&](Txn& t) -> Status {
      RC_TRY(t.append_event(e));
      return ok_status();
    });
    RC_TRY(written);
  }
  return ok_status();
}

// ---- scans --------------------------------------------------------------------------------------

Status Box::check_camera() {
  if (cabinet_.camera == nullptr) return ok_status();
  // An unchanged frame is not decoded again but gives the same text, so a code held still
  // reaches handle_scan() on every frame, as its repeat window expects.
  auto text = camera_scanner_.next(*cabinet_.camera);
  if (!text.ok()) {
    if (text.error().code != ErrorCode::kDeadlineExceeded && camera_errors_++ % 100 == 0) {
      spdlog::error("camera: {} ({} failures so far)", text.error().to_string(), camera_errors_);
    }
    return ok_status();
  }
  camera_errors_ = 0;
  if (!*text) return ok_status();
  return handle_scan(**text);
}

Status Box::handle_scan(const std::string& text) {
  const Clock::Monotonic now = clock_.monotonic();
  // A phone held to the camera is seen in every frame: the same text is evaluated again only
  // after it has been out of sight for scan_repeat.
  if (last_scan_text_ == text && now - last_scan_seen_ < config_.timeouts.scan_repeat) {
    last_scan_seen_ = now;
    return ok_status();
  }
  last_scan_text_ = text;
  last_scan_seen_ = now;

  // The box's own printed code is for the app, not for this camera: say so instead of
  // "malformed" (docs/token-format.md, "The box's own code").
  if (looks_like_box_code(text)) {
    spdlog::info("scan rejected: the box's own code (the app opens the box with it)");
    return reject_scan(std::string(reason::kBoxCode), std::nullopt);
  }

  VerifyRequest request;
  request.box_id = config_.box_id;
  request.now = clock_.wall_seconds();
  request.leeway_seconds = config_.timeouts.token_leeway.count();
  auto verified = TokenVerifier(*keys_).verify(text, request);
  if (!verified.ok()) {
    const TokenError why = verified.error().reason;
    spdlog::info("scan rejected: {} ({})", to_string(why), verified.error().detail);
    // Fields of a token are journaled only once its signature held (checks 5.. come after it):
    // unsigned content must not become a fact in the controller's database.
    std::optional<TokenClaims> claims;
    if (why == TokenError::kNotYetValid || why == TokenError::kExpired ||
        why == TokenError::kWrongBox || why == TokenError::kWrongCompartment) {
      if (auto parsed = parse_token_unverified(text); parsed.ok()) claims = parsed->claims;
    }
    return reject_scan(std::string(to_string(why)), claims);
  }
  const TokenClaims& claims = verified->claims;
  const std::string token_id = claims.token_id_hex();
  if (courier_ && courier_->claims.token_id == claims.token_id) {
    return ok_status();  // this courier's session is already running
  }

  AuthRequest auth;
  auth.claims = claims;
  RC_ASSIGN_OR_RETURN(auth.revoked, journal_.is_revoked(token_id));
  if (is_courier(claims.action)) {
    for (std::uint8_t c : claims.compartments) {
      RC_ASSIGN_OR_RETURN(const bool used, journal_.token_used(used_token_key(claims, int{c})));
      if (used) auth.used_compartments.insert(int{c});
    }
  } else {
    RC_ASSIGN_OR_RETURN(auth.token_used, journal_.token_used(token_id));
  }
  auth.maintenance = maintenance_;
  auth.compartments = views();
  for (const auto& [id, r] : reservations_) auth.reservations.push_back(r);
  auth.now_s = clock_.wall_seconds();
  auth.reservation_grace_s = config_.timeouts.reservation_grace.count();
  const AuthDecision decision = authorise(auth);
  if (!decision.accepted) {
    spdlog::info("scan of token {} rejected: {}", token_id, decision.reason);
    return reject_scan(decision.reason, claims);
  }
  spdlog::info("token {} ({}) accepted for compartment {}", token_id, to_string(claims.action),
               decision.compartments.front());
  if (is_courier(claims.action)) {
    // Couriers: one compartment after the other, each as the previous door closes (see
    // docs/firmware.md, "Courier tokens"). A second courier token replaces a running session.
    CourierSession session;
    session.claims = claims;
    session.queue.assign(decision.compartments.begin() + 1, decision.compartments.end());
    session.current = decision.compartments.front();
    courier_ = std::move(session);
  }
  return unlock_for_token(decision.compartments.front(), claims);
}

Status Box::unlock_for_token(int id, const TokenClaims& claims) {
  const std::string key = used_token_key(claims, id);
  auto applied =
      apply(id, TokenUnlock{claims.token_id_hex(), claims.action, claims.order_ref, std::nullopt},
            clock_.wall_ms(), clock_.monotonic(),
            [&](Txn& t) { return t.mark_token_used(key, claims.expires); });
  if (!applied.ok()) return std::move(applied).error();
  if (!applied->accepted) return reject_scan(applied->refusal, claims);
  return ok_status();
}

Status Box::reject_scan(const std::string& reason, const std::optional<TokenClaims>& claims) {
  msg::Event e;
  e.kind = msg::EventKind::kScanRejected;
  e.at_ms = clock_.wall_ms();
  e.reason = reason;
  if (claims) {
    e.token_id = claims->token_id_hex();
    e.action = claims->action;
    e.order_ref = claims->order_ref;
    if (claims->compartments.size() == 1) e.compartment = int{claims->compartments.front()};
  }
  const Status written = journal_.transact([&](Txn& t) -> Status {
    RC_TRY(t.append_event(e));
    return ok_status();
  });
  RC_TRY(written);
  state_dirty_ = true;
  show(hal::IndicatorPattern::kRejected, short_reason(reason), true);
  return ok_status();
}

Status Box::advance_courier_session() {
  if (!courier_) return ok_status();
  if (visit_in_progress(machine(courier_->current).state())) return ok_status();
  while (!courier_->queue.empty()) {
    const int next = courier_->queue.front();
    courier_->queue.erase(courier_->queue.begin());
    const TokenClaims claims = courier_->claims;
    // The token is checked again for each door: it may have run out or been revoked meanwhile.
    if (clock_.wall_seconds() >= claims.expires + config_.timeouts.token_leeway.count()) {
      courier_.reset();
      return reject_scan(std::string(to_string(TokenError::kExpired)), claims);
    }
    RC_ASSIGN_OR_RETURN(const bool revoked, journal_.is_revoked(claims.token_id_hex()));
    if (revoked) {
      courier_.reset();
      return reject_scan(std::string(reason::kRevoked), claims);
    }
    if (!is_closed_state(machine(next).state())) continue;  // skipped; a rescan tries it again
    courier_->current = next;
    auto applied = apply(
        next, TokenUnlock{claims.token_id_hex(), claims.action, claims.order_ref, std::nullopt},
        clock_.wall_ms(), clock_.monotonic(),
        [&](Txn& t) { return t.mark_token_used(used_token_key(claims, next), claims.expires); });
    if (!applied.ok()) return std::move(applied).error();
    if (applied->accepted) return ok_status();
  }
  courier_.reset();
  return ok_status();
}

// ---- commands and configuration -----------------------------------------------------------------

Status Box::handle_inbound(const Inbound& item) {
  if (const auto* command = std::get_if<msg::Command>(&item)) return handle_command(*command);
  return apply_config(std::get<msg::Config>(item));
}

Status Box::finish_command(const msg::Command& command, msg::CommandResult result,
                           std::optional<int> compartment) {
  msg::Event e;
  e.kind = msg::EventKind::kCommandExecuted;
  e.at_ms = clock_.wall_ms();
  e.command_id = command.id;
  e.compartment = compartment;
  e.reason = result.code;
  if (!result.message.empty()) e.detail = truncate_utf8(result.message, msg::kMaxDetailBytes);
  const Status written = journal_.transact([&](Txn& t) -> Status {
    RC_TRY(t.record_command(result));
    RC_TRY(t.append_event(e));
    return ok_status();
  });
  RC_TRY(written);
  if (!mailbox_.push_result(std::move(result))) {
    spdlog::warn("command {}: result queue full; the command_executed event carries it",
                 command.id);
  }
  state_dirty_ = true;
  return ok_status();
}

Status Box::handle_command(const msg::Command& command) {
  RC_ASSIGN_OR_RETURN(const auto previous, journal_.command_result(command.id));
  if (previous) {
    // Executed before (QoS 1 redelivery or a controller retry): nothing happens again.
    spdlog::info("command {} is a duplicate", command.id);
    msg::CommandResult again{command.id, previous->ok, "duplicate", previous->message};
    if (!mailbox_.push_result(std::move(again))) spdlog::warn("result queue full");
    return ok_status();
  }
  const int n = static_cast<int>(machines_.size());
  auto result_for = [&](bool ok, std::string code, std::string message) {
    return msg::CommandResult{command.id, ok, std::move(code), std::move(message)};
  };
  auto unknown = [&](int c) {
    return finish_command(command,
                          result_for(false, "unknown_compartment",
                                     "compartment " + std::to_string(c) + " does not exist"),
                          c >= 1 && c <= 255 ? std::optional<int>(c) : std::nullopt);
  };
  // The command's record and its event, written inside the transaction of its effect.
  auto record_in = [&](const msg::CommandResult& result, std::optional<int> compartment) {
    return [&, result, compartment](Txn& t) -> Status {
      RC_TRY(t.record_command(result));
      msg::Event e;
      e.kind = msg::EventKind::kCommandExecuted;
      e.at_ms = clock_.wall_ms();
      e.command_id = command.id;
      e.compartment = compartment;
      e.reason = result.code;
      if (!result.message.empty()) e.detail = truncate_utf8(result.message, msg::kMaxDetailBytes);
      RC_TRY(t.append_event(std::move(e)));
      return ok_status();
    };
  };
  auto push = [&](msg::CommandResult result) {
    if (!mailbox_.push_result(std::move(result))) spdlog::warn("result queue full");
    return ok_status();
  };

  switch (command.op) {
    case msg::CommandOp::kOpen: {
      const int c = command.compartment.value_or(0);
      if (c < 1 || c > n) return unknown(c);
      const auto ok = result_for(true, "ok", "compartment " + std::to_string(c) + " unlocked");
      auto applied = apply(c, CommandUnlock{command.id}, clock_.wall_ms(), clock_.monotonic(),
                           record_in(ok, c));
      if (!applied.ok()) return std::move(applied).error();
      if (!applied->accepted) {
        return finish_command(
            command,
            result_for(false, applied->refusal,
                       "compartment " + std::to_string(c) + ": " + applied->refusal),
            c);
      }
      return push(ok);
    }
    case msg::CommandOp::kReserve: {
      const msg::Reservation r = command.reservation.value_or(msg::Reservation{});
      const int c = r.compartment;
      if (c < 1 || c > n) return unknown(c);
      const auto ok = result_for(true, "ok", "compartment " + std::to_string(c) + " reserved");
      const auto record = record_in(ok, c);
      auto applied = apply(c, ReservationChanged{true}, clock_.wall_ms(), clock_.monotonic(),
                           [&](Txn& t) -> Status {
                             RC_TRY(t.put_reservation(r));
                             return record(t);
                           });
      if (!applied.ok()) return std::move(applied).error();
      reservations_[c] = r;
      return push(ok);
    }
    case msg::CommandOp::kRelease: {
      const int c = command.compartment.value_or(0);
      if (c < 1 || c > n) return unknown(c);
      if (reservations_.count(c) == 0) {
        return finish_command(
            command,
            result_for(false, "invalid", "compartment " + std::to_string(c) + " is not reserved"),
            c);
      }
      const auto ok =
          result_for(true, "ok", "reservation of compartment " + std::to_string(c) + " released");
      const auto record = record_in(ok, c);
      auto applied = apply(c, ReservationChanged{false}, clock_.wall_ms(), clock_.monotonic(),
                           [&](Txn& t) -> Status {
                             RC_TRY(t.remove_reservation(c));
                             return record(t);
                           });
      if (!applied.ok()) return std::move(applied).error();
      reservations_.erase(c);
      return push(ok);
    }
    case msg::CommandOp::kRevoke: {
      const auto ok =
          result_for(true, "ok", std::to_string(command.token_ids.size()) + " token id(s) revoked");
      const auto record = record_in(ok, std::nullopt);
      const Status written = journal_.transact([&](Txn& t) -> Status {
        RC_TRY(t.add_revocations(command.token_ids));
        return record(t);
      });
      RC_TRY(written);
      return push(ok);
    }
    case msg::CommandOp::kMaintenanceOn:
    case msg::CommandOp::kMaintenanceOff: {
      const bool on = command.op == msg::CommandOp::kMaintenanceOn;
      const auto ok = result_for(true, "ok", on ? "maintenance mode on" : "maintenance mode off");
      const auto record = record_in(ok, std::nullopt);
      const Status written = journal_.transact([&](Txn& t) -> Status {
        RC_TRY(t.put_setting(kSettingMaintenance, on ? "1" : "0"));
        return record(t);
      });
      RC_TRY(written);
      RC_TRY(push(ok));
      const bool was = std::exchange(maintenance_, on);
      state_dirty_ = true;
      if (was && !on) {
        // The end of maintenance is when a technician has fixed things: compartments taken out
        // of service come back, unless their door sensor still fails.
        for (const CompartmentConfig& c : config_.compartments) {
          if (door_fault_[static_cast<std::size_t>(c.id - 1)]) continue;
          auto back = apply(c.id, SetOutOfService{false, "maintenance ended"}, clock_.wall_ms(),
                            clock_.monotonic());
          if (!back.ok()) return std::move(back).error();
        }
      }
      refresh_indicator();
      return ok_status();
    }
    case msg::CommandOp::kOpenAccess:
      return handle_open_access(command);
    case msg::CommandOp::kConfigUpdate: {
      // The sync side re-reads the retained config; the box only records the command.
      const auto ok = result_for(true, "ok", "configuration re-requested");
      const Status written = journal_.transact(record_in(ok, std::nullopt));
      RC_TRY(written);
      return push(ok);
    }
  }
  return finish_command(command, result_for(false, "invalid", "unknown op"), std::nullopt);
}

Status Box::handle_open_access(const msg::Command& command) {
  const msg::Access access = command.access.value_or(msg::Access{});
  const int c = access.compartment;
  const int n = static_cast<int>(machines_.size());
  const std::optional<int> where = c >= 1 && c <= 255 ? std::optional<int>(c) : std::nullopt;
  auto refuse = [&](const std::string& code, const std::string& message) -> Status {
    spdlog::info("open_access {} for token {} refused: {}", command.id, access.token_id, code);
    RC_TRY(finish_command(command, msg::CommandResult{command.id, false, code, message}, where));
    // The customer stands at the box: the display says why, as for a scanned code.
    show(hal::IndicatorPattern::kRejected, short_reason(code), true);
    return ok_status();
  };
  if (c < 1 || c > n) {
    return refuse("unknown_compartment", "compartment " + std::to_string(c) + " does not exist");
  }
  // The token's own window, with the leeway a scan of it would get.
  const std::int64_t now_s = clock_.wall_seconds();
  if (now_s >= access.until + config_.timeouts.token_leeway.count()) {
    return refuse(std::string(to_string(TokenError::kExpired)),
                  "the reservation's token expired at " + std::to_string(access.until));
  }
  AuthRequest auth;
  auth.claims.action = access.action;
  auth.claims.box_id = config_.box_id;
  auth.claims.compartments = {static_cast<std::uint8_t>(c)};
  auth.claims.order_ref = access.order_ref;
  auth.claims.expires = access.until;
  if (auto bytes = from_hex(access.token_id); bytes.ok() && bytes->size() == kTokenIdBytes) {
    std::copy(bytes->begin(), bytes->end(), auth.claims.token_id.begin());
  }
  RC_ASSIGN_OR_RETURN(auth.revoked, journal_.is_revoked(access.token_id));
  RC_ASSIGN_OR_RETURN(auth.token_used, journal_.token_used(access.token_id));
  auth.maintenance = maintenance_;
  auth.compartments = views();
  for (const auto& [id, r] : reservations_) auth.reservations.push_back(r);
  auth.now_s = now_s;
  auth.reservation_grace_s = config_.timeouts.reservation_grace.count();
  const AuthDecision decision = authorise(auth);
  if (!decision.accepted) {
    return refuse(decision.reason, "compartment " + std::to_string(c) + ": " + decision.reason);
  }
  const msg::CommandResult ok{command.id, true, "ok",
                              "compartment " + std::to_string(c) + " unlocked for order " +
                                  std::to_string(access.order_ref)};
  // Journal first: the token's use, the command's record and its event commit with the unlock.
  auto applied = apply(c, TokenUnlock{access.token_id, access.action, access.order_ref, command.id},
                       clock_.wall_ms(), clock_.monotonic(), [&](Txn& t) -> Status {
                         RC_TRY(t.mark_token_used(access.token_id, access.until));
                         RC_TRY(t.record_command(ok));
                         msg::Event e;
                         e.kind = msg::EventKind::kCommandExecuted;
                         e.at_ms = clock_.wall_ms();
                         e.command_id = command.id;
                         e.compartment = c;
                         e.reason = ok.code;
                         e.detail = ok.message;
                         RC_TRY(t.append_event(std::move(e)));
                         return ok_status();
                       });
  if (!applied.ok()) return std::move(applied).error();
  if (!applied->accepted) {
    return refuse(applied->refusal, "compartment " + std::to_string(c) + ": " + applied->refusal);
  }
  spdlog::info("open_access {}: token {} ({}) opened compartment {}", command.id, access.token_id,
               to_string(access.action), c);
  if (!mailbox_.push_result(ok)) spdlog::warn("result queue full");
  return ok_status();
}

Status Box::apply_config(const msg::Config& config) {
  if (config.revision <= config_revision_) {
    spdlog::debug("config revision {} ignored (applied: {})", config.revision, config_revision_);
    return ok_status();
  }
  const int n = static_cast<int>(machines_.size());
  std::vector<msg::Reservation> reservations;
  std::map<int, msg::Reservation> by_id;
  for (const msg::Reservation& r : config.reservations) {
    if (r.compartment < 1 || r.compartment > n) {
      spdlog::warn("config {}: reservation for compartment {} ignored (this box has {})",
                   config.revision, r.compartment, n);
      continue;
    }
    reservations.push_back(r);
    by_id[r.compartment] = r;
  }
  // Every compartment's reservation flag in one go, applied to copies so nothing changes in
  // memory unless the transaction commits.
  std::vector<CompartmentMachine> next = machines_;
  std::vector<bool> changed(next.size(), false);
  const Clock::Monotonic now = clock_.monotonic();
  for (CompartmentMachine& m : next) {
    const Outcome o = m.handle(ReservationChanged{by_id.count(m.id()) != 0}, now);
    changed[static_cast<std::size_t>(m.id() - 1)] = o.changed;
  }
  const std::int64_t at_ms = clock_.wall_ms();
  const Status written = journal_.transact([&](Txn& t) -> Status {
    RC_TRY(t.replace_reservations(reservations));
    RC_TRY(t.replace_revocations(config.revoked_token_ids));
    RC_TRY(t.put_setting(kSettingMaintenance, config.maintenance ? "1" : "0"));
    RC_TRY(t.put_setting(kSettingControllerKeys, keys_to_json(config.keys)));
    RC_TRY(t.put_setting(kSettingRevision, std::to_string(config.revision)));
    for (const CompartmentMachine& m : next) {
      if (changed[static_cast<std::size_t>(m.id() - 1)])
        RC_TRY(t.save_compartment(m.record(at_ms)));
    }
    return ok_status();
  });
  RC_TRY(written);
  machines_ = std::move(next);
  reservations_ = std::move(by_id);
  config_revision_ = config.revision;
  RC_TRY(rebuild_keys(config.keys));
  const bool was = std::exchange(maintenance_, config.maintenance);
  state_dirty_ = true;
  spdlog::info("config revision {} applied: {} reservations, {} revocations, {} keys{}",
               config.revision, reservations.size(), config.revoked_token_ids.size(),
               config.keys.size(), config.maintenance ? ", maintenance" : "");
  if (was && !config.maintenance) {
    for (const CompartmentConfig& c : config_.compartments) {
      if (door_fault_[static_cast<std::size_t>(c.id - 1)]) continue;
      auto back = apply(c.id, SetOutOfService{false, "maintenance ended"}, clock_.wall_ms(),
                        clock_.monotonic());
      if (!back.ok()) return std::move(back).error();
    }
  }
  refresh_indicator();
  return ok_status();
}

// ---- indicator and state ------------------------------------------------------------------------

void Box::show(hal::IndicatorPattern pattern, const std::string& message, bool transient) {
  if (cabinet_.indicator == nullptr) return;
  std::string text = truncate_chars(message, hal::Indicator::kMaxMessageLength);
  if (!transient && !indicator_until_ && indicator_shown_ && indicator_shown_->first == pattern &&
      indicator_shown_->second == text) {
    return;
  }
  if (Status s = cabinet_.indicator->show(pattern, text); !s.ok()) {
    spdlog::warn("indicator: {}", s.error().to_string());
  }
  indicator_shown_ = std::pair{pattern, std::move(text)};
  if (transient) {
    indicator_until_ = clock_.monotonic() + kIndicatorHold;
  } else {
    indicator_until_.reset();
  }
}

void Box::refresh_indicator() {
  if (indicator_until_ && clock_.monotonic() < *indicator_until_) return;
  indicator_until_.reset();
  if (maintenance_) {
    show(hal::IndicatorPattern::kMaintenance, "Maintenance", false);
    return;
  }
  for (const CompartmentMachine& m : machines_) {
    if (m.state() == CompartmentState::kAjar || m.state() == CompartmentState::kForced) {
      show(hal::IndicatorPattern::kFault, "Please close door " + std::to_string(m.id()), false);
      return;
    }
  }
  show(hal::IndicatorPattern::kIdle, "Scan your code", false);
}

std::vector<CompartmentView> Box::views() const {
  std::vector<CompartmentView> out;
  out.reserve(machines_.size());
  for (const CompartmentMachine& m : machines_) out.push_back({m.id(), m.state(), m.occupied()});
  return out;
}

CompartmentState Box::compartment_state(int id) const {
  if (id < 1 || id > static_cast<int>(machines_.size())) return CompartmentState::kFree;
  return machines_[static_cast<std::size_t>(id - 1)].state();
}

msg::State Box::state() {
  msg::State s;
  for (const CompartmentMachine& m : machines_) {
    msg::CompartmentState c;
    c.id = m.id();
    c.state = std::string(to_string(m.state()));
    c.door_open = m.door_open();
    if (auto it = sensors_.fill_percent.find(m.id()); it != sensors_.fill_percent.end()) {
      c.fill_percent = it->second;
    }
    c.size = std::string(to_string(compartment_config(m.id()).size));
    s.compartments.push_back(std::move(c));
  }
  s.temperature_c = sensors_.temperature_c;
  s.humidity_percent = sensors_.humidity_percent;
  s.tamper = sensors_.tamper.value_or(false);
  s.maintenance = maintenance_;
  s.backlog = journal_.backlog().value_or(0);
  s.last_seq = journal_.last_seq().value_or(0);
  s.firmware_version = std::string(kFirmwareVersion);
  s.uptime_s = std::max<std::int64_t>(
      0,
      std::chrono::duration_cast<std::chrono::seconds>(clock_.monotonic() - started_at_).count());
  s.config_revision = config_revision_;
  return s;
}

void Box::publish_state_if_due(bool force) {
  const Clock::Monotonic now = clock_.monotonic();
  const bool periodic =
      !last_state_report_ || now - *last_state_report_ >= config_.state_report_interval;
  if (!force && !state_dirty_ && !periodic) return;
  const bool environment_due =
      !last_environment_read_ || now - *last_environment_read_ >= config_.state_report_interval;
  if (environment_due && cabinet_.environment != nullptr) {
    last_environment_read_ = now;
    if (auto reading = cabinet_.environment->read(); reading.ok()) {
      sensors_.temperature_c = reading->temperature_c;
      sensors_.humidity_percent = reading->humidity_percent;
    } else {
      sensors_.temperature_c.reset();
      sensors_.humidity_percent.reset();
    }
  }
  mailbox_.set_state(state());
  last_state_report_ = now;
  state_dirty_ = false;
}

}  // namespace reclothes::firmware
