// Customer service on a customer's behalf (docs/orders.md, "Orders on a customer's behalf"): the
// staff search and case view of buying orders and donations, and the actions staff take for the
// customer (cancel, refund in full or in part, re-send the pickup code, cancel a reserved
// donation). HTTP-free: refusals are DomainErrors (outcome.h). Each action runs in the caller's
// transaction, records the staff member and the reason with the state change it makes
// (order_transitions), and returns the audit row's before/after and what must happen after the
// commit (publish a box's config or a revoke command, attempt a refund).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>

#include "context.h"
#include "outcome.h"
#include "reclothes/common/messages.h"

namespace reclothes::controller::domain {

// A validated staff search (GET /internal/v1/buying-orders, GET /internal/v1/donations). Every
// filter is optional; they combine with AND. Newest first (id descending), paged by before_id.
struct CustomerOrderQuery {
  std::optional<std::int64_t> customer_id;
  std::optional<std::string> email;   // the customer's exact email (compared lower-cased)
  std::optional<std::string> state;   // a state of the order's machine (checked by the caller)
  std::optional<std::string> box_id;  // buying: pickup or return box; donations: the box
  std::optional<std::int64_t> location_id;      // buying: pickup location; donations: location
  std::optional<std::int64_t> created_from_ms;  // created at or after
  std::optional<std::int64_t> created_to_ms;    // created before
  // The label of a shipping or collecting order that carried it.
  std::optional<std::string> tracking_code;
  std::optional<std::int64_t> before_id;  // the page after this id
  std::int64_t limit = 50;
  bool full = false;  // customers.read_full: personal data unmasked
};

struct CustomerOrderPage {
  nlohmann::json items = nlohmann::json::array();  // {order or donation, customer}
  std::int64_t total = 0;                          // over all pages
  std::optional<std::int64_t> next_before_id;      // more pages: pass it as before_id
};

StoreResult<CustomerOrderPage> search_buying_orders(pqxx::work& tx, const CustomerOrderQuery& q);
StoreResult<CustomerOrderPage> search_donations(pqxx::work& tx, const CustomerOrderQuery& q);

// One order with its case history: the order (no token texts), the customer (masked unless
// full), payments and refunds, state history, tokens (issued, revoked, consumed), related
// internal orders and audit rows. not_found "order" / "donation".
StoreResult<nlohmann::json> buying_order_case(pqxx::work& tx, std::int64_t id, bool full);
StoreResult<nlohmann::json> donation_case(pqxx::work& tx, std::int64_t id, bool full);

// Who acts, and why (the route checks the reason: rules on_behalf.h reason_problem).
struct OnBehalf {
  std::int64_t staff_id = 0;
  std::string reason;
};

// What an action changed, for the audit row, and what to do after the commit.
struct OnBehalfChange {
  nlohmann::json before;                      // {state, refunded_cents} (donations: {state})
  nlohmann::json after;                       // the same after the action, with what the action did
  std::optional<std::string> publish_config;  // this box's config changed
  std::optional<msg::Command> revoke;         // publish to publish_config's box first
  std::int64_t refund_payment_id = 0;         // attempt it (0: none)
};

// Cancels a buying order with the customer's cancel's effects (buying_store.h cancel_order):
// internal orders cancelled, pickup reservation dropped, products back on sale, what is left to
// refund refunded. Refusals: not_found "order", illegal_transition.
StoreResult<OnBehalfChange> cancel_order_on_behalf(DomainContext& d, pqxx::work& tx,
                                                   std::int64_t order_id, const OnBehalf& who,
                                                   std::int64_t now_ms);

// Refunds amount_cents (nullopt: all that is left to refund) through the payment adapter as a
// refund of its own (several add up); the customer is notified when it succeeds. The order's
// state does not change. Refusals: not_found "order", illegal_transition (nothing was charged),
// conflict nothing_to_refund, conflict refund_exceeds_refundable {refundable_cents}.
StoreResult<OnBehalfChange> refund_order_on_behalf(DomainContext& d, pqxx::work& tx,
                                                   std::int64_t order_id,
                                                   std::optional<std::int64_t> amount_cents,
                                                   const OnBehalf& who, std::int64_t now_ms);

// Queues a new pickup_code_resent notification for a ready_for_pickup order (the same pickup
// token: no second one is issued). Refusals: not_found "order", illegal_transition.
StoreResult<OnBehalfChange> resend_pickup_code(pqxx::work& tx, std::int64_t order_id,
                                               const OnBehalf& who, std::int64_t now_ms);

// Cancels a reserved donation (donation_store.h cancel_donation's effects: compartment freed,
// deposit token revoked with a command to the box). Refusals: not_found "donation",
// illegal_transition.
StoreResult<OnBehalfChange> cancel_donation_on_behalf(DomainContext& d, pqxx::work& tx,
                                                      std::int64_t donation_id, const OnBehalf& who,
                                                      std::int64_t now_ms);

}  // namespace reclothes::controller::domain
