// Alarms about box faults (docs/orders.md, "Alarms"): the fault's state machine, who is on call
// when, and what an alarm says. Pure functions of the rules target (no I/O); the store
// (store/alarm_store.cpp) locks the fault row, asks the machine and writes the answer, and the
// worker queues the alarms as staff notifications.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "reclothes/controller/domain/notification_text.h"
#include "reclothes/controller/domain/state_machines.h"

namespace reclothes::controller::domain {

// ---- the fault's state machine ------------------------------------------------------------------
//
//   open --acknowledge--> acknowledged
//   open, acknowledged --resolve (staff) | clear (the box)--> resolved
//
// Anything else is refused (409 illegal_transition): acknowledging twice, acknowledging or
// resolving a resolved fault. Only open, unacknowledged faults alarm and remind.
enum class FaultState { kOpen, kAcknowledged, kResolved };
enum class FaultEvent {
  kAcknowledge,  // a staff member takes care of it: no more alarms or reminders
  kResolve,      // a staff member closes it with a note
  kClear,        // the box reports it cleared (or, for offline, the box is seen again)
};

std::string_view to_string(FaultState s);
std::string_view to_string(FaultEvent e);
std::optional<FaultState> fault_state_from_string(std::string_view s);
std::span<const FaultState> all_fault_states();
std::span<const FaultEvent> all_fault_events();
// TransitionError.order_kind is "fault".
Transition<FaultState> next(FaultState from, FaultEvent event);
// The state of a stored fault from its columns.
FaultState fault_state_of(bool cleared, bool acknowledged);

// ---- on call ------------------------------------------------------------------------------------

// A daily window in UTC minutes of the day: from inclusive, until exclusive; from > until spans
// midnight (22:00-06:00). No window: always on call.
struct OnCallWindow {
  std::optional<int> from_minute;
  std::optional<int> until_minute;
};

// Whether the window covers the minute of the day (0..1439).
bool on_call_at(const OnCallWindow& w, int minute_of_day);
// The UTC minute of the day of a wall-clock time in ms.
int utc_minute_of_day(std::int64_t wall_ms);
// "HH:MM" (00:00..23:59) as minutes of the day, or nullopt.
std::optional<int> parse_clock_time(std::string_view text);
std::string format_clock_time(int minute_of_day);

// ---- what an alarm says -------------------------------------------------------------------------

// The staff notification kinds of alarms, in the order docs/orders.md lists them: fault_opened,
// fault_reminder, fault_closed. These (and only these) reach staff by mail too.
const std::vector<std::string_view>& alarm_notification_kinds();
bool is_alarm_notification_kind(std::string_view kind);

// A fault kind in words ("a latch did not release (door jammed)"); an unknown kind as itself.
std::string describe_fault_kind(std::string_view kind);

// The text of an alarm notification (payload: fault_id, kind, box_id, compartment, location_name,
// location_address, opened_at, detail; reminder: n; closed: closed_by, note); nullopt for a kind
// that is not an alarm's.
std::optional<NotificationText> render_alarm(std::string_view kind, const nlohmann::json& payload);

}  // namespace reclothes::controller::domain
