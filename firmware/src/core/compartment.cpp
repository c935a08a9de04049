#include "reclothes/firmware/compartment.h"

#include <array>
#include <utility>

#include "reclothes/firmware/text.h"

namespace reclothes::firmware {
namespace {

constexpr std::array<std::pair<CompartmentState, std::string_view>, 9> kStateNames{{
    {CompartmentState::kFree, "free"},
    {CompartmentState::kReserved, "reserved"},
    {CompartmentState::kOccupied, "occupied"},
    {CompartmentState::kUnlocked, "unlocked"},
    {CompartmentState::kOpen, "open"},
    {CompartmentState::kJammed, "jammed"},
    {CompartmentState::kForced, "forced"},
    {CompartmentState::kAjar, "ajar"},
    {CompartmentState::kOutOfService, "out_of_service"},
}};

// What a finished token visit leaves in the compartment.
bool fills(TokenAction action) {
  switch (action) {
    case TokenAction::kDeposit:
    case TokenAction::kReturn:
    case TokenAction::kCourierLoad:
      return true;
    case TokenAction::kPickup:
    case TokenAction::kCourierCollect:
      return false;
  }
  return false;
}

bool is_customer(TokenAction action) {
  return action == TokenAction::kDeposit || action == TokenAction::kPickup ||
         action == TokenAction::kReturn;
}

bool door_open_in(CompartmentState s) {
  return s == CompartmentState::kOpen || s == CompartmentState::kAjar ||
         s == CompartmentState::kForced;
}

Outcome refuse(std::string reason) {
  Outcome o;
  o.accepted = false;
  o.refusal = std::move(reason);
  return o;
}

}  // namespace

std::string_view to_string(CompartmentState state) {
  for (const auto& [s, name] : kStateNames) {
    if (s == state) return name;
  }
  return "free";
}

std::optional<CompartmentState> compartment_state_from_string(std::string_view text) {
  for (const auto& [s, name] : kStateNames) {
    if (name == text) return s;
  }
  return std::nullopt;
}

bool is_closed_state(CompartmentState state) {
  return state == CompartmentState::kFree || state == CompartmentState::kReserved ||
         state == CompartmentState::kOccupied;
}

Result<CompartmentMachine> CompartmentMachine::restore(int id, CompartmentTiming timing,
                                                       const CompartmentRecord& record,
                                                       bool reserved, Clock::Monotonic now) {
  auto state = compartment_state_from_string(record.state);
  if (!state) {
    return make_error(ErrorCode::kDataLoss, "compartment " + std::to_string(id) +
                                                ": unknown state \"" + record.state +
                                                "\" in the journal");
  }
  CompartmentMachine m(id, timing);
  m.occupied_ = record.occupied;
  m.reserved_ = reserved;
  m.visit_ = Visit{record.token_id, record.action, record.order_ref, record.command_id};
  m.state_ = *state;
  m.door_open_ = door_open_in(*state);
  if (is_closed_state(*state)) {
    m.state_ = m.resting_state();
    m.visit_ = {};
  }
  if (*state == CompartmentState::kUnlocked || m.door_open_) m.timer_start_ = now;
  m.ajar_reported_ = *state == CompartmentState::kAjar;
  return m;
}

CompartmentState CompartmentMachine::resting_state() const {
  if (occupied_) return CompartmentState::kOccupied;
  return reserved_ ? CompartmentState::kReserved : CompartmentState::kFree;
}

std::optional<Clock::Monotonic> CompartmentMachine::deadline() const {
  if (!timer_start_) return std::nullopt;
  if (state_ == CompartmentState::kUnlocked) return *timer_start_ + timing_.door_open_after_unlock;
  if ((state_ == CompartmentState::kOpen || state_ == CompartmentState::kForced) &&
      !ajar_reported_) {
    return *timer_start_ + timing_.door_ajar;
  }
  return std::nullopt;
}

CompartmentRecord CompartmentMachine::record(std::int64_t since_ms) const {
  CompartmentRecord r;
  r.id = id_;
  r.state = std::string(to_string(state_));
  r.token_id = visit_.token_id;
  r.action = visit_.action;
  r.order_ref = visit_.order_ref;
  r.command_id = visit_.command_id;
  r.since_ms = since_ms;
  r.occupied = occupied_;
  return r;
}

msg::Event CompartmentMachine::event(msg::EventKind kind) const {
  msg::Event e;
  e.kind = kind;
  e.compartment = id_;
  return e;
}

Outcome CompartmentMachine::handle(const CompartmentInput& input, Clock::Monotonic now) {
  return std::visit(
      [&](const auto& in) -> Outcome {
        using T = std::decay_t<decltype(in)>;
        if constexpr (std::is_same_v<T, TokenUnlock>) {
          if (state_ == CompartmentState::kJammed) return refuse("compartment_busy");
          return unlock(Visit{in.token_id, in.action, in.order_ref, in.command_id}, now);
        } else if constexpr (std::is_same_v<T, CommandUnlock>) {
          Visit v;
          // A remote open of a jammed compartment retries the jammed visit: when the door then
          // opens and closes, the token's access still completes.
          if (state_ == CompartmentState::kJammed) v = visit_;
          v.command_id = in.command_id;
          return unlock(std::move(v), now);
        } else if constexpr (std::is_same_v<T, DoorOpened>) {
          return opened(now);
        } else if constexpr (std::is_same_v<T, DoorClosed>) {
          return closed();
        } else if constexpr (std::is_same_v<T, Tick>) {
          return tick(now);
        } else if constexpr (std::is_same_v<T, ReservationChanged>) {
          Outcome o;
          reserved_ = in.reserved;
          if (state_ == CompartmentState::kFree || state_ == CompartmentState::kReserved) {
            const CompartmentState next = resting_state();
            o.changed = next != state_;
            state_ = next;
          }
          return o;
        } else {
          return set_out_of_service(in, now);
        }
      },
      input);
}

Outcome CompartmentMachine::unlock(Visit visit, Clock::Monotonic now) {
  switch (state_) {
    case CompartmentState::kFree:
    case CompartmentState::kReserved:
    case CompartmentState::kOccupied:
    case CompartmentState::kJammed:
      break;
    case CompartmentState::kUnlocked:
      return refuse("compartment_busy");
    case CompartmentState::kOpen:
    case CompartmentState::kAjar:
    case CompartmentState::kForced:
      return refuse("door_open");
    case CompartmentState::kOutOfService:
      return refuse("out_of_service");
  }
  Outcome o;
  o.changed = true;
  visit_ = std::move(visit);
  state_ = CompartmentState::kUnlocked;
  timer_start_ = now;
  ajar_reported_ = false;
  msg::Event e = event(msg::EventKind::kUnlocked);
  e.token_id = visit_.token_id;
  e.action = visit_.action;
  e.order_ref = visit_.order_ref;
  e.command_id = visit_.command_id;
  o.effects.emplace_back(EmitEvent{std::move(e)});
  o.effects.emplace_back(PulseLock{id_, timing_.pulse});
  o.effects.emplace_back(
      ShowIndicator{hal::IndicatorPattern::kAccepted, "Open door " + std::to_string(id_)});
  return o;
}

Outcome CompartmentMachine::opened(Clock::Monotonic now) {
  Outcome o;
  switch (state_) {
    case CompartmentState::kUnlocked:
    case CompartmentState::kJammed:
      state_ = CompartmentState::kOpen;
      break;
    case CompartmentState::kFree:
    case CompartmentState::kReserved:
    case CompartmentState::kOccupied:
      state_ = CompartmentState::kForced;
      visit_ = {};
      break;
    case CompartmentState::kOpen:
    case CompartmentState::kAjar:
    case CompartmentState::kForced:
      door_open_ = true;
      return o;  // already open: a repeated sensor report
    case CompartmentState::kOutOfService:
      if (!door_open_) o.effects.emplace_back(EmitEvent{event(msg::EventKind::kDoorOpened)});
      door_open_ = true;
      return o;
  }
  door_open_ = true;
  timer_start_ = now;
  ajar_reported_ = false;
  o.changed = true;
  o.effects.emplace_back(EmitEvent{event(msg::EventKind::kDoorOpened)});
  if (state_ == CompartmentState::kForced) {
    o.effects.emplace_back(EmitEvent{event(msg::EventKind::kForced)});
    o.effects.emplace_back(
        ShowIndicator{hal::IndicatorPattern::kFault, "Door " + std::to_string(id_) + " forced"});
  }
  return o;
}

Outcome CompartmentMachine::closed() {
  Outcome o;
  const bool was_open = door_open_;
  door_open_ = false;
  switch (state_) {
    case CompartmentState::kOpen:
    case CompartmentState::kAjar:
    case CompartmentState::kForced:
      break;
    case CompartmentState::kOutOfService:
      if (was_open) {
        msg::Event e = event(msg::EventKind::kDoorClosed);
        e.occupied = occupied_;
        o.effects.emplace_back(EmitEvent{std::move(e)});
      }
      return o;
    case CompartmentState::kFree:
    case CompartmentState::kReserved:
    case CompartmentState::kOccupied:
    case CompartmentState::kUnlocked:
    case CompartmentState::kJammed:
      // Closed already (a repeated report), or a close whose opening was never seen: the jam
      // timer of an unlocked compartment still decides.
      return o;
  }
  const Visit visit = std::exchange(visit_, {});
  const bool token_visit = visit.token_id && visit.action;
  if (token_visit) occupied_ = fills(*visit.action);
  if (token_visit && is_customer(*visit.action)) {
    o.reservation_consumed = true;
    reserved_ = false;
  }
  state_ = resting_state();
  timer_start_.reset();
  ajar_reported_ = false;
  o.changed = true;
  msg::Event closed_event = event(msg::EventKind::kDoorClosed);
  closed_event.occupied = occupied_;
  closed_event.command_id = visit.command_id;
  o.effects.emplace_back(EmitEvent{std::move(closed_event)});
  if (token_visit) {
    msg::Event done = event(msg::EventKind::kAccessCompleted);
    done.token_id = visit.token_id;
    done.action = visit.action;
    done.order_ref = visit.order_ref;
    done.occupied = occupied_;
    o.effects.emplace_back(EmitEvent{std::move(done)});
    o.effects.emplace_back(ShowIndicator{hal::IndicatorPattern::kIdle, "Thank you"});
  }
  return o;
}

Outcome CompartmentMachine::tick(Clock::Monotonic now) {
  Outcome o;
  const auto due = deadline();
  if (!due || now < *due) return o;
  o.changed = true;
  if (state_ == CompartmentState::kUnlocked) {
    state_ = CompartmentState::kJammed;
    timer_start_.reset();
    msg::Event e = event(msg::EventKind::kJammed);
    e.token_id = visit_.token_id;
    e.action = visit_.action;
    e.order_ref = visit_.order_ref;
    e.command_id = visit_.command_id;
    o.effects.emplace_back(EmitEvent{std::move(e)});
    o.effects.emplace_back(ShowIndicator{hal::IndicatorPattern::kFault,
                                         "Door " + std::to_string(id_) + " did not open"});
  } else {
    state_ = CompartmentState::kAjar;
    ajar_reported_ = true;
    o.effects.emplace_back(EmitEvent{event(msg::EventKind::kAjar)});
    o.effects.emplace_back(
        ShowIndicator{hal::IndicatorPattern::kFault, "Please close door " + std::to_string(id_)});
  }
  return o;
}

Outcome CompartmentMachine::set_out_of_service(const SetOutOfService& input, Clock::Monotonic now) {
  Outcome o;
  const bool is_out = state_ == CompartmentState::kOutOfService;
  if (input.on == is_out) return o;
  o.changed = true;
  msg::Event e = event(msg::EventKind::kOutOfService);
  if (input.on) {
    state_ = CompartmentState::kOutOfService;
    visit_ = {};
    timer_start_.reset();
    e.detail = input.reason.empty() ? "out of service" : input.reason;
  } else {
    e.detail = "back in service" + (input.reason.empty() ? "" : ": " + input.reason);
    // A door a technician left open is an opening without a visit: closing it keeps occupancy.
    state_ = door_open_ ? CompartmentState::kOpen : resting_state();
    ajar_reported_ = false;
    if (door_open_) {
      timer_start_ = now;
    } else {
      timer_start_.reset();
    }
  }
  e.detail = truncate_utf8(*e.detail, msg::kMaxDetailBytes);
  o.effects.emplace_back(EmitEvent{std::move(e)});
  return o;
}

}  // namespace reclothes::firmware
