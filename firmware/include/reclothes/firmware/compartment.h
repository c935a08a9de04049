// The compartment state machine: pure logic, no I/O, no clock reads. The Box feeds it inputs with
// the monotonic time they happened and carries out the effects it returns (journal the events,
// pulse the lock, show the indicator). docs/firmware.md draws the diagram.
//
//   free / reserved / occupied --token or command unlock--> unlocked
//   unlocked --door opened--> open          unlocked --no opening in time--> jammed
//   open --door closed--> occupied or free (by the visit's action)
//   open --open too long--> ajar --door closed--> as from open
//   free / reserved / occupied --door opened without unlock--> forced --door closed--> as before
//   any --hardware fault or technician--> out_of_service --back in service--> closed state
//
// There is no item sensor: whether a compartment holds something after a visit follows from the
// visit's action (deposit, return, courier_load fill it; pickup, courier_collect empty it). An
// opening without a token (forced, remote open by command) keeps the previous occupancy.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "reclothes/common/clock.h"
#include "reclothes/common/messages.h"
#include "reclothes/common/token.h"
#include "reclothes/firmware/journal.h"
#include "reclothes/hal/indicator.h"

namespace reclothes::firmware {

enum class CompartmentState {
  kFree,          // closed, empty, not reserved
  kReserved,      // closed, empty, reserved by the controller (a deposit or return is expected)
  kOccupied,      // closed, holds something (a donation, a purchase waiting for pickup)
  kUnlocked,      // the lock was pulsed; waiting for the door to open
  kOpen,          // opened after an unlock
  kJammed,        // unlocked, but the door did not open in time
  kForced,        // opened without an unlock
  kAjar,          // open for longer than allowed
  kOutOfService,  // lock or sensor failed, or a technician took it out; refuses every opening
};
std::string_view to_string(CompartmentState state);  // "free", "reserved", ... (stable, journaled)
std::optional<CompartmentState> compartment_state_from_string(std::string_view s);

// Closed states that accept an unlock.
bool is_closed_state(CompartmentState state);

// What is going on in a compartment now: the token (or command) whose visit is in progress.
struct Visit {
  std::optional<std::string> token_id;
  std::optional<TokenAction> action;
  std::optional<std::uint64_t> order_ref;
  std::optional<std::string> command_id;
  bool operator==(const Visit&) const = default;
};

// ---- inputs -------------------------------------------------------------------------------------

struct TokenUnlock {
  std::string token_id;  // 16 hex
  TokenAction action = TokenAction::kDeposit;
  std::uint64_t order_ref = 0;
  // Set when the token's access came as an open_access command (the app's online open) instead
  // of a scan: the unlocked event then names both the token and the command.
  std::optional<std::string> command_id;
};
struct CommandUnlock {
  std::string command_id;
};
struct DoorOpened {};
struct DoorClosed {};
struct Tick {};  // time passed: checks the jam and ajar timeouts
struct ReservationChanged {
  bool reserved = false;  // a reservation exists now (added) or not any more (released, expired)
};
struct SetOutOfService {
  bool on = true;
  std::string reason;  // for the event's detail
};
using CompartmentInput = std::variant<TokenUnlock, CommandUnlock, DoorOpened, DoorClosed, Tick,
                                      ReservationChanged, SetOutOfService>;

// ---- effects ------------------------------------------------------------------------------------

struct PulseLock {
  int compartment = 0;
  std::chrono::milliseconds duration{0};
};
// An event to journal. at_ms and seq are left for the Box to fill.
struct EmitEvent {
  msg::Event event;
};
struct ShowIndicator {
  hal::IndicatorPattern pattern = hal::IndicatorPattern::kIdle;
  std::string message;  // at most hal::Indicator::kMaxMessageLength characters
};
using Effect = std::variant<PulseLock, EmitEvent, ShowIndicator>;

struct Outcome {
  // false: the input is not allowed in this state (an illegal transition); nothing changed and
  // `refusal` says why in the words of the authorisation reasons ("compartment_busy",
  // "out_of_service", "door_open").
  bool accepted = true;
  std::string refusal;
  std::vector<Effect> effects;
  bool changed = false;  // the persisted record changed (state, visit or occupancy)
  // A customer visit (deposit, pickup, return) completed: its reservation is used up and the
  // caller deletes it in the same journal transaction.
  bool reservation_consumed = false;
};

struct CompartmentTiming {
  std::chrono::milliseconds pulse{500};
  std::chrono::seconds door_open_after_unlock{15};
  std::chrono::seconds door_ajar{120};
};

class CompartmentMachine {
 public:
  CompartmentMachine(int id, CompartmentTiming timing) : id_(id), timing_(timing) {}

  // Rebuilds a machine from its journal record after a restart, exactly as recorded (the door is
  // taken to be as the state implies: open for open/ajar/forced). The caller then reconciles with
  // the door sensor by feeding DoorOpened / DoorClosed, so every difference is journaled as an
  // ordinary transition. Timers restart at `now`. free/reserved follow `reserved` (the journal's
  // reservations). Unknown state names are kDataLoss.
  static Result<CompartmentMachine> restore(int id, CompartmentTiming timing,
                                            const CompartmentRecord& record, bool reserved,
                                            Clock::Monotonic now);

  Outcome handle(const CompartmentInput& input, Clock::Monotonic now);

  int id() const { return id_; }
  CompartmentState state() const { return state_; }
  bool occupied() const { return occupied_; }
  bool reserved() const { return reserved_; }
  bool door_open() const { return door_open_; }
  const Visit& visit() const { return visit_; }
  // When the current timer (jam or ajar) fires, if one runs.
  std::optional<Clock::Monotonic> deadline() const;

  // The persisted form; since_ms is the wall time of the last transition, given by the caller.
  CompartmentRecord record(std::int64_t since_ms) const;

 private:
  Outcome unlock(Visit visit, Clock::Monotonic now);
  Outcome opened(Clock::Monotonic now);
  Outcome closed();
  Outcome tick(Clock::Monotonic now);
  Outcome set_out_of_service(const SetOutOfService& input, Clock::Monotonic now);
  CompartmentState resting_state() const;  // the closed state for the occupancy/reservation
  msg::Event event(msg::EventKind kind) const;

  int id_;
  CompartmentTiming timing_;
  CompartmentState state_ = CompartmentState::kFree;
  bool occupied_ = false;
  bool reserved_ = false;
  bool door_open_ = false;
  Visit visit_;
  // Set while a timer runs: since the unlock (jam timer) or since the door opened (ajar timer).
  std::optional<Clock::Monotonic> timer_start_;
  bool ajar_reported_ = false;
};

}  // namespace reclothes::firmware
