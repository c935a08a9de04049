// The alarms' store: faults for staff, the staff on call, and the worker's alarm passes.
#include "alarm_store.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>

#include <algorithm>
#include <map>
#include <set>

#include "shared.h"

namespace reclothes::controller::domain {
namespace {

// ---- faults as staff see them -------------------------------------------------------------------

const std::string kFaultFrom = " FROM box_faults f JOIN boxes b ON b.id = f.box_id ";

const std::string kFaultColumns =
    "f.id, f.box_id, b.location_id, f.compartment, f.kind, f.event_seq, f.detail, " +
    ms_of("f.opened_at") + ", " + ms_of("f.cleared_at") + ", " + ms_of("f.acknowledged_at") +
    ", f.acknowledged_by, f.acknowledge_note, f.resolved_by, f.resolve_note, " +
    ms_of("f.alarmed_at") +
    ", f.reminders_sent, (SELECT count(*) FROM fault_alarms a WHERE a.fault_id = f.id AND a.kind "
    "= 'opened')";

nlohmann::json fault_item(const pqxx::row& r) {
  const bool cleared = !r[8].is_null();
  const auto state = fault_state_of(cleared, !r[9].is_null());
  nlohmann::json closed_by;
  if (cleared) closed_by = r[12].is_null() ? "box" : "staff";
  return {{"id", r[0].as<std::int64_t>()},
          {"box_id", r[1].as<std::string>()},
          {"location_id", nullable_int(r[2])},
          {"compartment", nullable_int(r[3])},
          {"kind", r[4].as<std::string>()},
          {"event_seq", nullable_int(r[5])},
          {"detail", nullable_str(r[6])},
          {"opened_at", ts(r[7].as<std::int64_t>())},
          {"state", std::string(to_string(state))},
          {"acknowledged_at", nullable_ts(r[9])},
          {"acknowledged_by", nullable_int(r[10])},
          {"acknowledge_note", nullable_str(r[11])},
          {"resolved_at", nullable_ts(r[8])},
          {"resolved_by", nullable_int(r[12])},
          {"resolve_note", nullable_str(r[13])},
          {"closed_by", closed_by},
          {"alarmed_at", nullable_ts(r[14])},
          {"reminders_sent", r[15].as<std::int64_t>()},
          {"alarm_recipients", r[16].as<std::int64_t>()}};
}

std::optional<nlohmann::json> load_fault(pqxx::work& tx, std::int64_t id) {
  const auto rows = tx.exec_params("SELECT " + kFaultColumns + kFaultFrom + "WHERE f.id = $1", id);
  if (rows.empty()) return std::nullopt;
  return fault_item(rows[0]);
}

// Locks the fault and asks the machine whether `event` may happen: the fault before it, or the
// refusal (404, 409 illegal_transition naming the state).
StoreResult<nlohmann::json> lock_fault_for(pqxx::work& tx, std::int64_t id, FaultEvent event) {
  const auto rows = tx.exec_params(
      "SELECT cleared_at IS NOT NULL, acknowledged_at IS NOT NULL, resolved_by IS "
      "NOT NULL FROM box_faults WHERE id = $1 FOR UPDATE",
      id);
  if (rows.empty()) return DomainError::not_found("fault");
  const auto from = fault_state_of(rows[0][0].as<bool>(), rows[0][1].as<bool>());
  const auto to = next(from, event);
  if (!to.ok()) {
    std::string why = "it is " + std::string(to_string(from));
    if (from == FaultState::kResolved) {
      why += rows[0][2].as<bool>() ? " (a staff member resolved it)" : " (the box cleared it)";
    } else if (from == FaultState::kAcknowledged) {
      why += " already; resolve it once the box is fixed";
    }
    return DomainError::conflict(
        "illegal_transition",
        "cannot " + std::string(to_string(event)) + " fault " + std::to_string(id) + ": " + why,
        {{"order_kind", "fault"}, {"from", to.error().from}, {"event", to.error().event}});
  }
  return *load_fault(tx, id);
}

nlohmann::json window_json(const pqxx::field& from, const pqxx::field& until) {
  if (from.is_null() || until.is_null()) return nullptr;
  return nlohmann::json{format_clock_time(from.as<int>()), format_clock_time(until.as<int>())};
}

OnCallWindow window_of(const pqxx::field& from, const pqxx::field& until) {
  OnCallWindow w;
  if (!from.is_null()) w.from_minute = from.as<int>();
  if (!until.is_null()) w.until_minute = until.as<int>();
  return w;
}

// ---- the worker's alarms ------------------------------------------------------------------------

// A fault with where it is, as the alarm queries select it (then their own columns from 9 on).
const std::string kAlarmColumns = "f.id, f.kind, f.box_id, f.compartment, f.detail, " +
                                  ms_of("f.opened_at") + ", b.location_id, l.name, l.address";
const std::string kAlarmFrom =
    " FROM box_faults f JOIN boxes b ON b.id = f.box_id LEFT JOIN locations l ON l.id = "
    "b.location_id ";

nlohmann::json alarm_payload(const pqxx::row& r) {
  return {{"fault_id", r[0].as<std::int64_t>()},   {"kind", r[1].as<std::string>()},
          {"box_id", r[2].as<std::string>()},      {"compartment", nullable_int(r[3])},
          {"detail", nullable_str(r[4])},          {"opened_at", ts(r[5].as<std::int64_t>())},
          {"location_id", nullable_int(r[6])},     {"location_name", nullable_str(r[7])},
          {"location_address", nullable_str(r[8])}};
}

// Records one alarm of a fault to a staff member and queues its notification, once: false when
// it was recorded before.
bool queue_alarm(pqxx::work& tx, std::int64_t fault_id, std::int64_t staff_id,
                 const std::string& kind, int n, const nlohmann::json& payload,
                 std::int64_t now_ms) {
  const auto r = tx.exec_params(
      "INSERT INTO fault_alarms (fault_id, staff_id, kind, n, created_at) VALUES ($1, $2, $3, $4, "
      "$5::timestamptz) ON CONFLICT DO NOTHING",
      fault_id, staff_id, kind, n, ts(now_ms));
  if (r.affected_rows() == 0) return false;
  const auto id = std::to_string(fault_id);
  const auto who = std::to_string(staff_id);
  const std::string key = kind == "reminder"
                              ? "fault_reminder:" + id + ":" + std::to_string(n) + ":" + who
                              : "fault_" + kind + ":" + id + ":" + who;
  notify(tx, "staff", staff_id, "fault_" + kind, payload, now_ms, key);
  return true;
}

// Active staff on call for the location at this time.
std::vector<std::int64_t> on_call_now(pqxx::work& tx, std::int64_t location_id,
                                      std::int64_t now_ms) {
  std::vector<std::int64_t> out;
  const int minute = utc_minute_of_day(now_ms);
  for (const auto& r : tx.exec_params(
           "SELECT o.staff_id, o.from_minute, o.until_minute FROM staff_on_call o JOIN staff s ON "
           "s.id = o.staff_id AND s.active WHERE o.location_id = $1 ORDER BY o.staff_id",
           location_id)) {
    if (on_call_at(window_of(r[1], r[2]), minute)) out.push_back(r[0].as<std::int64_t>());
  }
  return out;
}

// First alarms: each open, unacknowledged fault to every active staff member on call now for
// its location who has not had it.
int queue_first_alarms(pqxx::work& tx, std::int64_t now_ms) {
  const int minute = utc_minute_of_day(now_ms);
  const auto rows = tx.exec(
      "SELECT " + kAlarmColumns + ", o.staff_id, o.from_minute, o.until_minute" + kAlarmFrom +
      "JOIN staff_on_call o ON o.location_id = b.location_id JOIN staff s ON s.id = o.staff_id "
      "AND s.active WHERE f.cleared_at IS NULL AND f.acknowledged_at IS NULL AND b.status <> "
      "'decommissioned' AND NOT EXISTS (SELECT 1 FROM fault_alarms a WHERE a.fault_id = f.id AND "
      "a.staff_id = o.staff_id AND a.kind = 'opened') ORDER BY f.id, o.staff_id LIMIT 500 FOR "
      "UPDATE OF f SKIP LOCKED");
  int queued = 0;
  std::set<std::int64_t> alarmed;
  for (const auto& r : rows) {
    if (!on_call_at(window_of(r[10], r[11]), minute)) continue;
    const auto fault = r[0].as<std::int64_t>();
    if (queue_alarm(tx, fault, r[9].as<std::int64_t>(), "opened", 0, alarm_payload(r), now_ms)) {
      ++queued;
      alarmed.insert(fault);
    }
  }
  for (const auto fault : alarmed) {
    tx.exec_params(
        "UPDATE box_faults SET alarmed_at = COALESCE(alarmed_at, $2::timestamptz), last_alarm_at "
        "= COALESCE(last_alarm_at, $2::timestamptz) WHERE id = $1",
        fault, ts(now_ms));
  }
  return queued;
}

// Reminders: faults still open and unacknowledged alarms.reminder after the last alarm, to the
// staff on call now (a fault whose location has nobody on call now waits for someone).
int queue_reminders(DomainContext& d, pqxx::work& tx, std::int64_t now_ms) {
  const auto& cfg = d.config.alarms;
  if (cfg.max_reminders <= 0) return 0;
  const auto rows = tx.exec_params(
      "SELECT " + kAlarmColumns + ", f.reminders_sent" + kAlarmFrom +
          "WHERE f.cleared_at IS NULL AND f.acknowledged_at IS NULL AND f.alarmed_at IS NOT NULL "
          "AND f.reminders_sent < $2 AND f.last_alarm_at <= $1::timestamptz - $3::bigint * "
          "interval '1 second' AND b.status <> 'decommissioned' AND b.location_id IS NOT NULL "
          "ORDER BY f.id LIMIT 100 FOR UPDATE OF f SKIP LOCKED",
      ts(now_ms), cfg.max_reminders, static_cast<std::int64_t>(cfg.reminder.count()));
  int queued = 0;
  for (const auto& r : rows) {
    const auto fault = r[0].as<std::int64_t>();
    const int n = r[9].as<int>() + 1;
    auto payload = alarm_payload(r);
    payload["reminder"] = n;
    // Not to whoever had an alarm about it within the interval (someone who came on call since).
    std::set<std::int64_t> recent;
    for (const auto& a :
         tx.exec_params("SELECT staff_id FROM fault_alarms WHERE fault_id = $1 AND created_at > "
                        "$2::timestamptz - $3::bigint * interval '1 second'",
                        fault, ts(now_ms), static_cast<std::int64_t>(cfg.reminder.count()))) {
      recent.insert(a[0].as<std::int64_t>());
    }
    int sent = 0;
    for (const auto staff : on_call_now(tx, r[6].as<std::int64_t>(), now_ms)) {
      if (recent.contains(staff)) continue;
      if (queue_alarm(tx, fault, staff, "reminder", n, payload, now_ms)) ++sent;
    }
    if (sent == 0) continue;
    queued += sent;
    tx.exec_params(
        "UPDATE box_faults SET reminders_sent = $2, last_alarm_at = $3::timestamptz WHERE id = $1",
        fault, n, ts(now_ms));
  }
  return queued;
}

// Closing notices: resolved faults that were alarmed, to the staff who had the first alarm
// (still active), except the one who resolved it.
int queue_closing_notices(DomainContext& d, pqxx::work& tx, std::int64_t now_ms) {
  const auto rows = tx.exec(
      "SELECT " + kAlarmColumns + ", f.resolved_by, f.resolve_note" + kAlarmFrom +
      "WHERE f.cleared_at IS NOT NULL AND f.alarmed_at IS NOT NULL AND f.close_notified_at IS "
      "NULL ORDER BY f.id LIMIT 100 FOR UPDATE OF f SKIP LOCKED");
  int queued = 0;
  for (const auto& r : rows) {
    const auto fault = r[0].as<std::int64_t>();
    if (d.config.alarms.notify_closed) {
      auto payload = alarm_payload(r);
      payload["closed_by"] = r[9].is_null() ? "box" : "staff";
      payload["note"] = nullable_str(r[10]);
      const std::optional<std::int64_t> resolver =
          r[9].is_null() ? std::nullopt : std::optional(r[9].as<std::int64_t>());
      for (const auto& a : tx.exec_params(
               "SELECT DISTINCT a.staff_id FROM fault_alarms a JOIN staff s ON s.id = a.staff_id "
               "AND s.active WHERE a.fault_id = $1 AND a.kind = 'opened' AND a.staff_id IS "
               "DISTINCT FROM $2 ORDER BY a.staff_id",
               fault, resolver)) {
        if (queue_alarm(tx, fault, a[0].as<std::int64_t>(), "closed", 0, payload, now_ms)) {
          ++queued;
        }
      }
    }
    tx.exec_params("UPDATE box_faults SET close_notified_at = $2::timestamptz WHERE id = $1", fault,
                   ts(now_ms));
  }
  return queued;
}

}  // namespace

// ---- faults as staff see them -------------------------------------------------------------------

StoreResult<nlohmann::json> list_faults(pqxx::work& tx, const FaultQuery& q) {
  return guarded([&]() -> StoreResult<nlohmann::json> {
    std::string where =
        "WHERE ($1::text IS NULL OR f.kind = $1) AND ($2::text IS NULL OR f.box_id = $2) AND "
        "($3::bigint IS NULL OR b.location_id = $3)";
    if (q.state == FaultState::kOpen) {
      where += " AND f.cleared_at IS NULL AND f.acknowledged_at IS NULL";
    } else if (q.state == FaultState::kAcknowledged) {
      where += " AND f.cleared_at IS NULL AND f.acknowledged_at IS NOT NULL";
    } else if (q.state == FaultState::kResolved) {
      where += " AND f.cleared_at IS NOT NULL";
    }
    nlohmann::json items = nlohmann::json::array();
    for (const auto& r :
         tx.exec_params("SELECT " + kFaultColumns + kFaultFrom + where +
                            " ORDER BY f.opened_at DESC, f.id DESC LIMIT $4 OFFSET $5",
                        q.kind, q.box_id, q.location_id, q.limit, q.offset)) {
      items.push_back(fault_item(r));
    }
    const auto total =
        tx.exec_params1("SELECT count(*)" + kFaultFrom + where, q.kind, q.box_id, q.location_id)[0]
            .as<std::int64_t>();
    return nlohmann::json{
        {"items", std::move(items)}, {"total", total}, {"limit", q.limit}, {"offset", q.offset}};
  });
}

StoreResult<nlohmann::json> get_fault(pqxx::work& tx, std::int64_t id) {
  return guarded([&]() -> StoreResult<nlohmann::json> {
    auto fault = load_fault(tx, id);
    if (!fault) return DomainError::not_found("fault");
    nlohmann::json alarms = nlohmann::json::array();
    for (const auto& r : tx.exec_params("SELECT staff_id, kind, n, " + ms_of("created_at") +
                                            " FROM fault_alarms WHERE fault_id = $1 ORDER BY "
                                            "created_at, kind, n, staff_id",
                                        id)) {
      alarms.push_back({{"staff_id", r[0].as<std::int64_t>()},
                        {"kind", r[1].as<std::string>()},
                        {"n", r[2].as<int>()},
                        {"at", ts(r[3].as<std::int64_t>())}});
    }
    (*fault)["alarms"] = std::move(alarms);
    return *fault;
  });
}

StoreResult<FaultChange> acknowledge_fault(pqxx::work& tx, std::int64_t id, std::int64_t staff_id,
                                           const std::string& note, std::int64_t now_ms) {
  return guarded([&]() -> StoreResult<FaultChange> {
    auto before = lock_fault_for(tx, id, FaultEvent::kAcknowledge);
    if (!before.ok()) return std::move(before).error();
    tx.exec_params(
        "UPDATE box_faults SET acknowledged_at = $2::timestamptz, acknowledged_by = $3, "
        "acknowledge_note = NULLIF($4, '') WHERE id = $1",
        id, ts(now_ms), staff_id, note);
    return FaultChange{std::move(before).value(), *load_fault(tx, id)};
  });
}

StoreResult<FaultChange> resolve_fault(pqxx::work& tx, std::int64_t id, std::int64_t staff_id,
                                       const std::string& note, std::int64_t now_ms) {
  return guarded([&]() -> StoreResult<FaultChange> {
    auto before = lock_fault_for(tx, id, FaultEvent::kResolve);
    if (!before.ok()) return std::move(before).error();
    tx.exec_params(
        "UPDATE box_faults SET cleared_at = $2::timestamptz, resolved_by = $3, resolve_note = $4 "
        "WHERE id = $1",
        id, ts(now_ms), staff_id, note);
    return FaultChange{std::move(before).value(), *load_fault(tx, id)};
  });
}

// ---- staff on call ------------------------------------------------------------------------------

StoreResult<nlohmann::json> list_on_call(pqxx::work& tx, std::int64_t location_id,
                                         std::int64_t now_ms) {
  return guarded([&]() -> StoreResult<nlohmann::json> {
    if (tx.exec_params("SELECT 1 FROM locations WHERE id = $1", location_id).empty()) {
      return DomainError::not_found("location");
    }
    const int minute = utc_minute_of_day(now_ms);
    nlohmann::json items = nlohmann::json::array();
    for (const auto& r : tx.exec_params(
             "SELECT o.staff_id, s.display_name, s.active, o.from_minute, o.until_minute FROM "
             "staff_on_call o JOIN staff s ON s.id = o.staff_id WHERE o.location_id = $1 ORDER BY "
             "o.staff_id",
             location_id)) {
      const auto window = window_json(r[3], r[4]);
      items.push_back(
          {{"staff_id", r[0].as<std::int64_t>()},
           {"display_name", r[1].as<std::string>()},
           {"active", r[2].as<bool>()},
           {"from", window.is_null() ? nlohmann::json() : window[0]},
           {"until", window.is_null() ? nlohmann::json() : window[1]},
           {"on_call_now", r[2].as<bool>() && on_call_at(window_of(r[3], r[4]), minute)}});
    }
    return nlohmann::json{{"location_id", location_id}, {"items", std::move(items)}};
  });
}

StoreResult<OnCallChange> set_on_call(pqxx::work& tx, std::int64_t location_id,
                                      const std::vector<OnCallEntry>& entries, std::int64_t set_by,
                                      std::int64_t now_ms) {
  return guarded([&]() -> StoreResult<OnCallChange> {
    if (tx.exec_params("SELECT 1 FROM locations WHERE id = $1 FOR UPDATE", location_id).empty()) {
      return DomainError::not_found("location");
    }
    std::set<std::int64_t> seen;
    for (const auto& e : entries) {
      const auto who = "staff member " + std::to_string(e.staff_id);
      if (!seen.insert(e.staff_id).second) {
        return DomainError::invalid("duplicate_staff", who + " is listed twice",
                                    {{"staff_id", e.staff_id}});
      }
      const auto rows = tx.exec_params("SELECT active FROM staff WHERE id = $1", e.staff_id);
      if (rows.empty()) {
        return DomainError::invalid("unknown_staff", who + " does not exist",
                                    {{"staff_id", e.staff_id}});
      }
      if (!rows[0][0].as<bool>()) {
        return DomainError::invalid("staff_inactive",
                                    who + " is deactivated: activate the account or leave it out",
                                    {{"staff_id", e.staff_id}});
      }
    }
    auto before = list_on_call(tx, location_id, now_ms);
    if (!before.ok()) return std::move(before).error();
    tx.exec_params("DELETE FROM staff_on_call WHERE location_id = $1", location_id);
    for (const auto& e : entries) {
      tx.exec_params(
          "INSERT INTO staff_on_call (location_id, staff_id, from_minute, until_minute, "
          "created_at, created_by) VALUES ($1, $2, $3, $4, $5::timestamptz, $6)",
          location_id, e.staff_id, e.window.from_minute, e.window.until_minute, ts(now_ms), set_by);
    }
    auto after = list_on_call(tx, location_id, now_ms);
    if (!after.ok()) return std::move(after).error();
    return OnCallChange{std::move(before).value(), std::move(after).value()};
  });
}

// ---- the worker's passes ------------------------------------------------------------------------

void sweep_offline_faults(DomainContext& d, pqxx::work& tx, std::int64_t now_ms, int* opened,
                          int* cleared) {
  // Back: the box reported in (online) since the fault opened; it closes at that time.
  // Decommissioned boxes are not coming back.
  const auto back = tx.exec_params(
      "UPDATE box_faults f SET cleared_at = CASE WHEN b.status = 'decommissioned' THEN "
      "$1::timestamptz ELSE b.last_seen END FROM boxes b WHERE b.id = f.box_id AND f.kind = "
      "'offline' AND f.cleared_at IS NULL AND (b.status = 'decommissioned' OR (b.online AND "
      "b.last_seen >= f.opened_at))",
      ts(now_ms));
  *cleared += static_cast<int>(back.affected_rows());
  const auto after_s = d.config.alarms.offline_after.count();
  if (after_s <= 0) return;
  // One fault per outage: none while one is open, nor when staff resolved this outage's fault
  // (one opened after the box was last seen).
  const auto r = tx.exec_params(
      "INSERT INTO box_faults (box_id, compartment, kind, event_seq, opened_at, detail) SELECT "
      "b.id, NULL, 'offline', NULL, $1::timestamptz, 'not seen since ' || to_char(b.last_seen AT "
      "TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') || ' (more than ' || $2::bigint || ' s)' "
      "FROM boxes b WHERE b.status = 'active' AND NOT b.maintenance AND b.last_seen < "
      "$1::timestamptz - $2::bigint * interval '1 second' AND NOT EXISTS (SELECT 1 FROM "
      "box_faults f WHERE f.box_id = b.id AND f.kind = 'offline' AND (f.cleared_at IS NULL OR "
      "f.opened_at > b.last_seen)) ON CONFLICT (box_id) WHERE kind = 'offline' AND cleared_at IS "
      "NULL DO NOTHING",
      ts(now_ms), static_cast<std::int64_t>(after_s));
  *opened += static_cast<int>(r.affected_rows());
}

AlarmCounts queue_alarms(DomainContext& d, pqxx::work& tx, std::int64_t now_ms) {
  AlarmCounts c;
  c.opened = queue_first_alarms(tx, now_ms);
  c.reminders = queue_reminders(d, tx, now_ms);
  c.closed = queue_closing_notices(d, tx, now_ms);
  return c;
}

void update_fault_gauges(DomainContext& d, pqxx::work& tx) {
  // The registry merges the family when it exists: every worker of the process sets the same
  // series.
  auto& gauges = prometheus::BuildGauge()
                     .Name("reclothes_box_faults_open")
                     .Help("Open box faults by kind (jammed, forced, ajar, tamper, offline, ...)")
                     .Register(d.s.metrics.registry());
  // How long the oldest open fault of each kind has been open: "faults open too long" alerts on
  // it (deploy/observability/alerts.yml).
  auto& oldest = prometheus::BuildGauge()
                     .Name("reclothes_box_faults_oldest_open_seconds")
                     .Help("Age of the oldest open box fault by kind (0: none open)")
                     .Register(d.s.metrics.registry());
  std::map<std::string, std::pair<double, double>> counts;
  for (const char* kind : {"jammed", "forced", "ajar", "tamper", "out_of_service", "unlock_unknown",
                           "offline", "late_deposit_conflict"}) {
    counts[kind] = {0, 0};
  }
  const auto now_ms = d.now_ms();
  for (const auto& r : tx.exec("SELECT kind, count(*), " + ms_of("min(opened_at)") +
                               " FROM box_faults WHERE cleared_at IS NULL GROUP BY kind")) {
    const auto age_ms = std::max<std::int64_t>(0, now_ms - r[2].as<std::int64_t>());
    counts[r[0].as<std::string>()] = {r[1].as<double>(), static_cast<double>(age_ms) / 1000.0};
  }
  for (const auto& [kind, n] : counts) {
    gauges.Add({{"kind", kind}}).Set(n.first);
    oldest.Add({{"kind", kind}}).Set(n.second);
  }
}

void count_alarms(DomainContext& d, const AlarmCounts& c) {
  auto& alarms = prometheus::BuildCounter()
                     .Name("reclothes_alarm_notifications_total")
                     .Help(
                         "Alarm notifications queued for staff on call, by kind (opened, "
                         "reminder, closed)")
                     .Register(d.s.metrics.registry());
  alarms.Add({{"kind", "opened"}}).Increment(c.opened);
  alarms.Add({{"kind", "reminder"}}).Increment(c.reminders);
  alarms.Add({{"kind", "closed"}}).Increment(c.closed);
}

}  // namespace reclothes::controller::domain
