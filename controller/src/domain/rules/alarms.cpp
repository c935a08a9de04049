// Alarms about box faults: the fault's state machine, on-call windows and the alarm texts (pure;
// docs/orders.md, "Alarms").
#include "reclothes/controller/domain/alarms.h"

#include <algorithm>
#include <array>
#include <cstdio>

namespace reclothes::controller::domain {
namespace {

constexpr std::array kFaultStates = {FaultState::kOpen, FaultState::kAcknowledged,
                                     FaultState::kResolved};
constexpr std::array kFaultEvents = {FaultEvent::kAcknowledge, FaultEvent::kResolve,
                                     FaultEvent::kClear};

// A payload field as text ("" when missing); integers without quotes.
std::string alarm_field(const nlohmann::json& p, const char* key) {
  if (!p.is_object()) return "";
  const auto it = p.find(key);
  if (it == p.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer()) return std::to_string(it->get<std::int64_t>());
  return "";
}

// "box bx-1 (compartment 2) at Kiez Mitte, Main St 1": what and where, as far as known.
std::string alarm_where(const nlohmann::json& p) {
  std::string out = "box " + alarm_field(p, "box_id");
  const auto compartment = alarm_field(p, "compartment");
  if (!compartment.empty()) out += " (compartment " + compartment + ")";
  const auto name = alarm_field(p, "location_name");
  const auto address = alarm_field(p, "location_address");
  if (!name.empty()) out += " at " + name;
  if (!address.empty()) out += ", " + address;
  return out;
}

// The lines every alarm has: the fault, since when, the box's detail.
std::string alarm_facts(const nlohmann::json& p) {
  const auto kind = alarm_field(p, "kind");
  std::string out = "Fault " + alarm_field(p, "fault_id") + " at " + alarm_where(p) + ": " +
                    describe_fault_kind(kind) + " (" + kind + ").";
  const auto since = alarm_field(p, "opened_at");
  if (!since.empty()) out += "\nOpen since " + since + ".";
  const auto detail = alarm_field(p, "detail");
  if (!detail.empty()) out += "\nThe box says: " + detail;
  return out;
}

}  // namespace

// ---- the fault's state machine ------------------------------------------------------------------

std::string_view to_string(FaultState s) {
  switch (s) {
    case FaultState::kOpen:
      return "open";
    case FaultState::kAcknowledged:
      return "acknowledged";
    case FaultState::kResolved:
      return "resolved";
  }
  return "unknown";
}

std::string_view to_string(FaultEvent e) {
  switch (e) {
    case FaultEvent::kAcknowledge:
      return "acknowledge";
    case FaultEvent::kResolve:
      return "resolve";
    case FaultEvent::kClear:
      return "clear";
  }
  return "unknown";
}

std::optional<FaultState> fault_state_from_string(std::string_view s) {
  for (auto v : kFaultStates) {
    if (to_string(v) == s) return v;
  }
  return std::nullopt;
}

std::span<const FaultState> all_fault_states() { return kFaultStates; }
std::span<const FaultEvent> all_fault_events() { return kFaultEvents; }

Transition<FaultState> next(FaultState from, FaultEvent event) {
  using S = FaultState;
  switch (event) {
    case FaultEvent::kAcknowledge:
      if (from == S::kOpen) return S::kAcknowledged;
      break;
    case FaultEvent::kResolve:
    case FaultEvent::kClear:
      if (from == S::kOpen || from == S::kAcknowledged) return S::kResolved;
      break;
  }
  return TransitionError{"fault", std::string(to_string(from)), std::string(to_string(event))};
}

FaultState fault_state_of(bool cleared, bool acknowledged) {
  if (cleared) return FaultState::kResolved;
  return acknowledged ? FaultState::kAcknowledged : FaultState::kOpen;
}

// ---- on call ------------------------------------------------------------------------------------

bool on_call_at(const OnCallWindow& w, int minute_of_day) {
  if (!w.from_minute || !w.until_minute) return true;
  const int from = *w.from_minute;
  const int until = *w.until_minute;
  if (from < until) return minute_of_day >= from && minute_of_day < until;
  return minute_of_day >= from || minute_of_day < until;  // spans midnight
}

int utc_minute_of_day(std::int64_t wall_ms) {
  const std::int64_t minutes = wall_ms / 60000;
  return static_cast<int>(((minutes % 1440) + 1440) % 1440);
}

std::optional<int> parse_clock_time(std::string_view text) {
  if (text.size() != 5 || text[2] != ':') return std::nullopt;
  for (std::size_t i : {0u, 1u, 3u, 4u}) {
    if (text[i] < '0' || text[i] > '9') return std::nullopt;
  }
  const int hours = (text[0] - '0') * 10 + (text[1] - '0');
  const int minutes = (text[3] - '0') * 10 + (text[4] - '0');
  if (hours > 23 || minutes > 59) return std::nullopt;
  return hours * 60 + minutes;
}

std::string format_clock_time(int minute_of_day) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%02d:%02d", (minute_of_day / 60) % 24, minute_of_day % 60);
  return buf;
}

// ---- what an alarm says -------------------------------------------------------------------------

const std::vector<std::string_view>& alarm_notification_kinds() {
  static const std::vector<std::string_view> kKinds = {"fault_opened", "fault_reminder",
                                                       "fault_closed"};
  return kKinds;
}

bool is_alarm_notification_kind(std::string_view kind) {
  const auto& kinds = alarm_notification_kinds();
  return std::find(kinds.begin(), kinds.end(), kind) != kinds.end();
}

std::string describe_fault_kind(std::string_view kind) {
  if (kind == "jammed") return "a latch did not release (door jammed)";
  if (kind == "forced") return "a door was forced open";
  if (kind == "ajar") return "a door was left open";
  if (kind == "tamper") return "the service panel was opened";
  if (kind == "out_of_service") return "a compartment went out of service";
  if (kind == "unlock_unknown") return "a lock opened that nobody asked to open";
  if (kind == "offline") return "the box has not been heard from for too long";
  if (kind == "courier_report") return "a courier reported a problem at the box";
  if (kind == "late_deposit_conflict") {
    return "a late offline deposit went into a compartment held by another order";
  }
  return std::string(kind);
}

std::optional<NotificationText> render_alarm(std::string_view kind, const nlohmann::json& p) {
  const auto fault_kind = alarm_field(p, "kind");
  const auto box = alarm_field(p, "box_id");
  const auto id = alarm_field(p, "fault_id");
  const std::string todo =
      "\n\nAcknowledge it (POST /internal/v1/faults/" + id +
      "/acknowledge) when you take care of it: that stops the reminders. It closes itself when "
      "the box reports it cleared; resolve it with a note (POST /internal/v1/faults/" +
      id + "/resolve) otherwise.";
  if (kind == "fault_opened") {
    return NotificationText{"Alarm: " + fault_kind + " at box " + box, alarm_facts(p) + todo};
  }
  if (kind == "fault_reminder") {
    return NotificationText{"Reminder: " + fault_kind + " at box " + box + " is still open",
                            "Nobody has acknowledged this fault yet.\n" + alarm_facts(p) + todo};
  }
  if (kind == "fault_closed") {
    const auto note = alarm_field(p, "note");
    const std::string how =
        alarm_field(p, "closed_by") == "staff"
            ? "A staff member resolved it" + (note.empty() ? std::string() : ": " + note)
            : "The box reports it cleared";
    return NotificationText{"Cleared: " + fault_kind + " at box " + box,
                            alarm_facts(p) + "\n" + how + ". Nothing more to do."};
  }
  return std::nullopt;
}

}  // namespace reclothes::controller::domain
