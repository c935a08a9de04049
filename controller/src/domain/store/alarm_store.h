// The alarms' store (docs/orders.md, "Alarms"): box faults as staff see and handle them (list,
// one fault with its alarms, acknowledge, resolve), the staff on call per location, and the
// worker's passes (offline faults, alarms, reminders, closing notices, the open-fault gauges).
//
// The staff functions take the caller's transaction and plain values and return a DomainError
// instead of throwing (guarded(), outcome.h). The worker passes run inside the worker's
// transactions, which are their edge. Faults of every kind are handled alike: the kinds that
// events open (events.cpp), offline (below) and any kind another module opens.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "context.h"
#include "outcome.h"
#include "reclothes/controller/domain/alarms.h"

namespace reclothes::controller::domain {

// ---- faults as staff see them -------------------------------------------------------------------

struct FaultQuery {
  std::optional<FaultState> state;
  std::optional<std::string> kind;
  std::optional<std::string> box_id;
  std::optional<std::int64_t> location_id;
  std::int64_t limit = 50;
  std::int64_t offset = 0;
};

// One page of faults, newest first: {items, total, limit, offset}. Each item: id, box_id,
// location_id, compartment, kind, event_seq, detail, opened_at, state, acknowledged_at,
// acknowledged_by, acknowledge_note, resolved_at, resolved_by, resolve_note, closed_by (box,
// staff or null), alarmed_at, alarm_recipients, reminders_sent.
StoreResult<nlohmann::json> list_faults(pqxx::work& tx, const FaultQuery& q);

// One fault (as above) with its alarms: [{staff_id, kind (opened, reminder, closed), n, at}].
// Refusals: not_found "fault".
StoreResult<nlohmann::json> get_fault(pqxx::work& tx, std::int64_t id);

struct FaultChange {
  nlohmann::json before;  // the fault (list item) before and after
  nlohmann::json after;
};
// Acknowledges an open fault: no more alarms or reminders. Refusals: not_found "fault",
// illegal_transition (acknowledged already, or resolved).
StoreResult<FaultChange> acknowledge_fault(pqxx::work& tx, std::int64_t id, std::int64_t staff_id,
                                           const std::string& note, std::int64_t now_ms);
// Resolves an open or acknowledged fault with a note. Refusals: not_found "fault",
// illegal_transition (resolved already, by the box or by staff).
StoreResult<FaultChange> resolve_fault(pqxx::work& tx, std::int64_t id, std::int64_t staff_id,
                                       const std::string& note, std::int64_t now_ms);

// ---- staff on call ------------------------------------------------------------------------------

struct OnCallEntry {
  std::int64_t staff_id = 0;
  OnCallWindow window;
};

// The location's staff on call: {location_id, items: [{staff_id, display_name, email, from,
// until, on_call_now}]} ("HH:MM" UTC or null). Refusals: not_found "location".
StoreResult<nlohmann::json> list_on_call(pqxx::work& tx, std::int64_t location_id,
                                         std::int64_t now_ms);

struct OnCallChange {
  nlohmann::json before;  // list_on_call before and after
  nlohmann::json after;
};
// Replaces the location's staff on call (an empty list: nobody). Refusals: not_found "location";
// invalid unknown_staff / staff_inactive naming the staff member; invalid duplicate_staff.
StoreResult<OnCallChange> set_on_call(pqxx::work& tx, std::int64_t location_id,
                                      const std::vector<OnCallEntry>& entries, std::int64_t set_by,
                                      std::int64_t now_ms);

// ---- the worker's passes ------------------------------------------------------------------------

// Opens a fault of kind offline for every active box outside maintenance not seen for
// alarms.offline_after (one per outage: none while one is open, or after staff resolved the
// outage's fault), and clears open offline faults of boxes seen since (at the time they were
// seen) or decommissioned. Adds to opened and cleared.
void sweep_offline_faults(DomainContext& d, pqxx::work& tx, std::int64_t now_ms, int* opened,
                          int* cleared);

struct AlarmCounts {
  int opened = 0;     // first alarms queued (one per fault and staff member)
  int reminders = 0;  // reminders queued
  int closed = 0;     // closing notices queued
};
// Queues the alarms that are due: each open, unacknowledged fault to every staff member on call
// now for its box's location who has not had it; a reminder to those on call after
// alarms.reminder without an acknowledgement (at most alarms.max_reminders); a closing notice to
// the alarmed staff when the fault was resolved (not to the one who resolved it).
AlarmCounts queue_alarms(DomainContext& d, pqxx::work& tx, std::int64_t now_ms);
// Adds committed alarms to the counter reclothes_alarm_notifications_total{kind}.
void count_alarms(DomainContext& d, const AlarmCounts& c);

// Sets the gauge reclothes_box_faults_open{kind} (open faults by kind; 0 for the kinds events open
// and offline when none is open).
void update_fault_gauges(DomainContext& d, pqxx::work& tx);

}  // namespace reclothes::controller::domain
