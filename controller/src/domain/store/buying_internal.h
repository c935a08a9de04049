// Building blocks private to the buying store's files (buying_store.cpp, buying_events.cpp,
// payment_store.cpp): the locked order row, its state changes, its products, its payment rows.
// Like shared.h they throw on database errors; their callers' edge is guarded().
#pragma once

#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "buying_store.h"
#include "context.h"
#include "outcome.h"
#include "reclothes/controller/domain/payments.h"
#include "reclothes/controller/domain/state_machines.h"

namespace reclothes::controller::domain::buying_internal {

struct OrderRow {
  std::int64_t id = 0;
  std::int64_t customer_id = 0;
  BuyingState state = BuyingState::kPaymentPending;
  std::int64_t total_cents = 0;
  std::optional<std::string> box_id;
  std::optional<int> compartment;
  std::optional<std::string> pickup_token_id;
  std::optional<std::string> return_box_id;
  std::optional<int> return_compartment;
  std::optional<std::string> return_token_id;
  std::optional<std::int64_t> completed_ms;
  std::optional<std::int64_t> pickup_until_ms;
};

// Locks the order's row (FOR UPDATE). nullopt: no such order.
std::optional<OrderRow> lock_order(pqxx::work& tx, std::int64_t id);

// Moves the order to `state` (and stamps stamp_column with now). Token texts are cleared in the
// states that do not use them.
void set_order_state(pqxx::work& tx, std::int64_t id, BuyingState state, std::int64_t now,
                     const char* stamp_column = nullptr);

// The sale is off: the order's products may be sold again.
void release_products(pqxx::work& tx, std::int64_t order_id, std::int64_t now);

// Whether the order delivers a donated item back to its donor (kind donor_return: nothing paid,
// no refund, no purchase coins).
bool is_donor_return_order(pqxx::work& tx, std::int64_t order_id);

// Compartment sizes that fit the order's items, smallest first (XL when the rule cannot say).
std::vector<std::string> order_fitting_sizes(pqxx::work& tx, std::int64_t order_id);

// Cancels the order in the caller's transaction (cancel_order's effects, buying_store.h): the
// customer's own (customer_id set: not_owner for another's) or, customer_id nullopt, on the
// customer's behalf. Publishing the freed box's config and attempting the refund are the
// caller's, after the commit. Refusals: not_found "order", not_owner "order", illegal_transition.
StoreResult<OrderCancelled> cancel_in_transaction(const DomainContext& d, pqxx::work& tx,
                                                  std::int64_t order_id,
                                                  std::optional<std::int64_t> customer_id,
                                                  std::int64_t now);

// What may still be refunded: the succeeded charge minus the refunds that are not failed (pending
// ones count: they will be paid). 0 when nothing was charged.
std::int64_t refundable_cents(pqxx::work& tx, std::int64_t order_id);

// ---- payments (payment_store.cpp) ---------------------------------------------------------------

// A pending payment ("charge" or "refund") of the order, with the idempotency key
// order-<id>-<kind>. The request that creates it holds it for one retry interval (it makes the
// first attempt itself, forced); only after that may the worker try.
std::int64_t insert_payment(const DomainContext& d, pqxx::work& tx, std::int64_t order_id,
                            const std::string& kind, std::int64_t amount, std::int64_t now);

// The charge of a new order: exchanges the card for a payment method and attempts the charge.
// A card the provider refuses or cannot take fails the payment and the order (not an error);
// the error is a failure to record the payment method.
StoreStatus pay_with_card(DomainContext& d, std::int64_t order_id, std::int64_t payment_id,
                          const Card& card);

// attempt_payment(force) right after the payment was created; a failure is logged (the worker
// retries later). `what` names it in the log ("payment", "refund").
void attempt_now(DomainContext& d, std::int64_t payment_id, std::int64_t order_id,
                 const char* what);

}  // namespace reclothes::controller::domain::buying_internal
