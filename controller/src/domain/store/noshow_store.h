// No-shows (docs/orders.md, "No-shows"), the SQL side: the pickup reminders before the window
// ends, the expiry pass at its end (order pickup_expired, pickup token revoked at the box, a
// collecting order that brings the parcel back, the customer told), and the two box-event effects
// on such an order: the courier's collect ends it by the policy, and a pickup the box journaled
// before the end but reported late wins.
//
// Worker passes and event effects: they run inside the caller's transaction and throw on database
// errors (the worker's and the event batch's transactions are their edge), like shared.h.
#pragma once

#include <cstdint>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "context.h"
#include "reclothes/common/messages.h"
#include "task_store.h"

namespace reclothes::controller::domain {

// Reminds buyers whose pickup window ends within buying.pickup_reminder (and, when set, again
// within buying.pickup_last_reminder): each reminder once per order, SKIP LOCKED. Returns how
// many reminders were queued.
int remind_pickups(DomainContext& d, pqxx::work& tx, std::int64_t now_ms);

struct PickupExpiries {
  int expired = 0;
  std::vector<std::string> boxes;  // configs to republish (reservation dropped, token revoked)
  std::vector<BoxRevoke> revokes;  // revoke commands to publish after commit
};

// Orders ready_for_pickup whose window ended (pickup_until <= now): pickup_expired, the pickup
// reservation dropped and the token revoked, a collecting order (trigger no_show) for the
// compartment, the pickup_expired notification. Each box is taken with SKIP LOCKED and each order
// re-read under its lock, so two replicas expire an order once.
PickupExpiries expire_pickups(DomainContext& d, pqxx::work& tx, std::int64_t now_ms);

// The courier collected a no-show (a collecting item of source kind "pickup"; the hold is already
// released): the order ends refunded (policy refund: a refund payment, due for the worker's next
// pass) or restocked (policy restock), and its products are on sale again. An order that cannot
// take it (a late pickup completed it) is left alone with a warning.
void collect_no_show(const DomainContext& d, pqxx::work& tx, std::int64_t order_id,
                     std::int64_t now_ms);

// A pickup of a pickup_expired order (journaled before the expiry, reported late): the parcel is
// gone, so its collecting order is withdrawn (the item removed, the order cancelled when nothing
// is left, the courier's token revoked). The caller completes the order.
void withdraw_no_show(const DomainContext& d, pqxx::work& tx, std::int64_t order_id,
                      std::int64_t now_ms);

}  // namespace reclothes::controller::domain
