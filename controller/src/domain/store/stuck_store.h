// Stuck internal orders and offline conflicts (issue 18, items 3 and 8; docs/orders.md, "Stuck
// internal orders" and "Offline conflicts"), the SQL side:
//   - a manager cancels or force-completes an internal order (reassignment is assign_task with
//     TaskEvent::kReassign, task_store.h);
//   - a collecting order adapts to a jammed or empty compartment instead of waiting forever;
//   - the token consumptions a box reports are recorded (which token, which seq, when);
//   - a late offline deposit into a compartment another order holds opens a fault and a
//     collecting order that fetches the late clothes, and leaves the other order's hold alone.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "context.h"
#include "outcome.h"
#include "reclothes/common/messages.h"
#include "reclothes/controller/events.h"
#include "task_store.h"

namespace reclothes::controller::domain {

// What a manager's decision did: the audit images, the order as the manager sees it, and what the
// route does after commit (the courier's token revoked at the box, box configs to republish, a
// refund to attempt).
struct ManagerDecision {
  nlohmann::json before;
  TaskView after;
  std::optional<BoxRevoke> revoke;
  std::vector<std::string> config_boxes;
  std::optional<std::int64_t> refund_payment_id;
  std::optional<std::int64_t> replaced_by;  // the new order that takes over cancelled work
};

// A manager withdraws an order that is not finished (open, assigned, or a checking or collecting
// order in progress). Its unfinished work goes back: a collecting order's compartments not yet
// emptied return to the pool a new collecting order takes them from; a checking order's ungraded
// items, a packing order and a shipping order get a new open order of the same kind (replaced_by)
// that a manager assigns. The courier's token is revoked. Refusals: not_found("order"),
// illegal_transition.
StoreResult<ManagerDecision> manager_cancel_task(DomainContext& d, pqxx::work& tx, std::int64_t id,
                                                 std::int64_t manager_id, std::int64_t now_ms);

// A manager finishes an order somebody holds (assigned, or a checking or collecting order in
// progress) with what was done:
//   collecting: done with what it collected; compartments not emptied are `skipped` and go back
//               to the pool (their donations stay deposited for a later collecting order; no
//               fault is opened: the box opens its own for a jammed door);
//   checking:   the ungraded items are recycled (graded by the manager) and the donation is
//               rewarded or the return refunded, as the last grade does;
//   packing:    packed, as the packer's completion: a pickup compartment and a shipping order;
//   shipping:   the parcel is in its compartment (loaded by hand or by a remote open), as the
//               box's courier_load: the customer gets the pickup code.
// Refusals: not_found("order"), illegal_transition, and what packing or loading refuses
// (no_compartment_available, conflict parcel_not_dispatched).
StoreResult<ManagerDecision> force_complete_task(DomainContext& d, pqxx::work& tx, std::int64_t id,
                                                 std::int64_t manager_id, std::int64_t now_ms);

// ---- box-event hooks (inside the event batch's transaction) -------------------------------------

// An unlocked event that carries a token: the token was consumed at this seq (token_consumptions).
Status on_token_unlocked(DomainContext& d, pqxx::work& tx, const BoxEventContext& ctx,
                         const msg::Event& e);

// A courier's collect door jammed: that compartment's part of the collecting order ends as
// `jammed`, its donation or return goes back to the pool for a later collect (the box's own
// jammed fault marks the compartment), and the order completes when the rest is done.
Status on_collect_jammed(DomainContext& d, pqxx::work& tx, const BoxEventContext& ctx,
                         const msg::Event& e);

// Whether a courier_collect access found the compartment empty: with
// collecting.empty_by_fill_sensor, the compartment's fill sensor read 0 when the courier's token
// opened it.
bool collect_found_empty(DomainContext& d, pqxx::work& tx, const BoxEventContext& ctx,
                         const msg::Event& e);

// The courier found the compartment of a collecting order empty: the item ends as `empty`, the
// compartment's hold is released (nothing is in it), the source stays as it was (a deposited
// donation is not rewarded for clothes nobody found), and the order moves on.
void mark_collect_empty(DomainContext& d, pqxx::work& tx, const BoxEventContext& ctx,
                        std::int64_t order_id, int compartment, const std::string& source_kind,
                        std::int64_t source_id);

// A collecting order whose parts are all collected, jammed, empty or skipped completes; else it
// progresses.
void advance_collecting(DomainContext& d, pqxx::work& tx, std::int64_t order_id, std::int64_t now);

// A courier emptied a compartment for `order_id` after that part had ended (`jammed` and then
// opened remotely, or `skipped` by a cancel): the clothes are with the courier, so the collect
// counts. A newer collecting order that took the same donation or return over has nothing left
// to fetch there: its part becomes `skipped`, and an order with nothing left completes (or is
// cancelled when it collected nothing).
void settle_taken_over(DomainContext& d, pqxx::work& tx, const std::string& source_kind,
                       std::int64_t source_id, std::int64_t order_id, std::int64_t now);

// A late offline deposit of `donation_id` into a compartment another order holds: opens a
// late_deposit_conflict fault (both orders in its details) and a collecting order (with a note)
// that fetches the late clothes. The other order's hold is not touched. Returns the fault's id.
std::int64_t open_late_deposit_conflict(DomainContext& d, pqxx::work& tx,
                                        const BoxEventContext& ctx, const msg::Event& e,
                                        std::int64_t donation_id, int compartment);

// The courier emptied a compartment of a collecting order: a late_deposit_conflict fault that
// order was made for is resolved.
void clear_conflict_collected(pqxx::work& tx, const std::string& box_id, int compartment,
                              std::int64_t order_id, std::int64_t now_ms);

}  // namespace reclothes::controller::domain
