// What moves a buying order besides its customer: the box's events (the courier loads the
// parcel, the customer picks it up, the customer deposits a return), the worker's expiry of
// unused return reservations, and the internal orders (packing done, shipping dispatched, the
// return checked). All run in the caller's transaction.
#include <algorithm>

#include "buying_internal.h"
#include "coins_store.h"
#include "noshow_store.h"
#include "shared.h"

namespace reclothes::controller::domain {
namespace {

using buying_internal::insert_payment;
using buying_internal::lock_order;
using buying_internal::order_fitting_sizes;
using buying_internal::set_order_state;

std::int64_t pickup_window_ms(const DomainContext& d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d.config.buying.pickup_window)
      .count();
}

// The shipping order a courier_load names, if it is one for this box and compartment: locked,
// and its buying order's id.
std::optional<std::int64_t> loaded_order(DomainContext& d, pqxx::work& tx,
                                         const BoxEventContext& ctx, const msg::Event& e,
                                         std::int64_t shipping_id) {
  const auto rows = tx.exec_params(
      "SELECT source_id, box_id, $2 = ANY(compartments) FROM internal_orders WHERE id = $1 AND "
      "kind = 'shipping' FOR UPDATE",
      shipping_id, e.compartment.value_or(0));
  if (rows.empty() || rows[0][1].as<std::string>() != ctx.box_id || !rows[0][2].as<bool>()) {
    d.s.log.warn("courier load outside a shipping order ignored",
                 {{"box", ctx.box_id}, {"order_ref", shipping_id}, {"seq", e.seq}});
    return std::nullopt;
  }
  return rows[0][0].as<std::int64_t>();
}

// The pickup window counts from the load (the order becomes ready_for_pickup now): the
// reservation the box holds since packing moves to the window's end, which the box then learns
// through its config. Returns the pickup deadline.
std::int64_t pickup_deadline(DomainContext& d, pqxx::work& tx, const BoxEventContext& ctx,
                             const buying_internal::OrderRow& o, int compartment) {
  const auto until = ctx.now_ms + pickup_window_ms(d);
  if (o.pickup_until_ms != until) {
    reserve_at_box(tx, ctx.box_id, compartment, o.id, TokenAction::kPickup, until);
    mark_config_dirty(tx, ctx.box_id);
  }
  return until;
}

// The customer's pickup token, valid until the deadline (at least a minute, at most what tokens
// may be valid for).
Result<IssuedToken> issue_pickup_token(DomainContext& d, pqxx::work& tx, const BoxEventContext& ctx,
                                       std::int64_t order_id, int compartment, std::int64_t until) {
  TokenRequest req;
  req.action = TokenAction::kPickup;
  req.box_id = ctx.box_id;
  req.compartments = {static_cast<std::uint8_t>(compartment)};
  req.order_ref = static_cast<std::uint64_t>(order_id);
  req.validity = std::chrono::seconds(std::max<std::int64_t>(60, (until - ctx.now_ms) / 1000));
  if (req.validity > d.s.tokens.config().max_validity) {
    req.validity = d.s.tokens.config().max_validity;
  }
  return d.s.tokens.issue(tx, req);
}

// The refund of a checked return: each item's price times the percentage its grade gets
// (buying.return_refund_percent_by_grade), rounded down per item. An item without a grade (its
// checking was completed another way) is refunded in full.
std::int64_t graded_refund_cents(const DomainContext& d, pqxx::work& tx, std::int64_t order_id) {
  const auto& pct = d.config.buying.return_refund_percent_by_grade;
  std::int64_t refund = 0;
  for (const auto& row : tx.exec_params(
           "SELECT i.price_cents, (SELECT ci.grade FROM checking_items ci JOIN internal_orders io "
           "ON io.id = ci.order_id WHERE io.kind = 'checking' AND io.source_kind = 'return' AND "
           "io.source_id = i.order_id AND ci.position = i.position ORDER BY io.id DESC LIMIT 1) "
           "FROM buying_order_items i WHERE i.order_id = $1 ORDER BY i.position",
           order_id)) {
    const auto price = row[0].as<std::int64_t>();
    const auto grade = opt<std::string>(row[1]);
    const int percent = !grade ? 100 : *grade == "recycle" ? pct.recycle : pct.publish;
    refund += price * percent / 100;
  }
  return refund;
}

// A refunded return takes back the purchase coins of what was paid back: the buyer keeps one
// coin per whole currency unit still paid (total minus refund), the rest of what the pickup
// awarded goes (coins_store.h: a debt when the balance is short).
void take_back_purchase_coins(pqxx::work& tx, const buying_internal::OrderRow& o,
                              std::int64_t refund_cents, std::int64_t now) {
  const auto earned = tx.exec_params(
      "SELECT delta FROM coin_ledger WHERE reason = 'purchase' AND ref_kind = 'buying_order' AND "
      "ref_id = $1",
      o.id);
  if (earned.empty()) return;
  const auto kept = std::max<std::int64_t>(0, o.total_cents - refund_cents) / 100;
  const auto back = earned[0][0].as<std::int64_t>() - kept;
  if (back <= 0) return;
  take_back_coins(tx, o.customer_id, static_cast<int>(back), "purchase_returned", "buying_order",
                  o.id, now);
}

}  // namespace

// ---- box events ---------------------------------------------------------------------------------

Status on_courier_load(DomainContext& d, pqxx::work& tx, const BoxEventContext& ctx,
                       const msg::Event& e) {
  const auto shipping_id = static_cast<std::int64_t>(*e.order_ref);
  const auto order_id = loaded_order(d, tx, ctx, e, shipping_id);
  if (!order_id) return ok_status();
  const auto now = ctx.now_ms;
  if (auto moved = advance_task(tx, shipping_id, TaskEvent::kComplete, now); !moved.ok()) {
    d.s.log.warn("shipping order not advanced",
                 {{"order", shipping_id}, {"why", moved.error().message()}});
  }
  const auto o = lock_order(tx, *order_id);
  auto to = next(o->state, BuyingEvent::kLoad);
  if (!to.ok()) {
    d.s.log.warn("load event ignored", {{"order", *order_id}, {"why", to.error().message()}});
    return ok_status();
  }
  set_hold_filled(tx, ctx.box_id, *e.compartment, now);
  const auto until = pickup_deadline(d, tx, ctx, *o, *e.compartment);
  RC_ASSIGN_OR_RETURN(auto token, issue_pickup_token(d, tx, ctx, *order_id, *e.compartment, until));
  set_order_state(tx, *order_id, *to, now);
  tx.exec_params(
      "UPDATE buying_orders SET pickup_token_id = $2, pickup_token_text = $3, pickup_until = "
      "$4::timestamptz, ready_at = $5::timestamptz WHERE id = $1",
      *order_id, token.token_id, token.text, ts(until), ts(now));
  notify(tx, "customer", o->customer_id, "pickup_ready",
         {{"order_id", *order_id},
          {"box_id", ctx.box_id},
          {"compartment", *e.compartment},
          {"until", ts(until)}},
         now, "pickup_ready:" + std::to_string(*order_id));
  return ok_status();
}

Status on_pickup(DomainContext& d, pqxx::work& tx, const BoxEventContext& ctx,
                 const msg::Event& e) {
  const auto order_id = static_cast<std::int64_t>(*e.order_ref);
  const auto o = lock_order(tx, order_id);
  if (!o || o->box_id != ctx.box_id || o->compartment != e.compartment) {
    d.s.log.warn("pickup for an unknown order or another compartment ignored",
                 {{"box", ctx.box_id}, {"order_ref", order_id}, {"seq", e.seq}});
    return ok_status();
  }
  auto to = next(o->state, BuyingEvent::kPickup);
  if (!to.ok()) {
    d.s.log.warn("pickup event ignored", {{"order", order_id}, {"why", to.error().message()}});
    return ok_status();
  }
  const auto now = ctx.now_ms;
  if (o->state == BuyingState::kPickupExpired) {
    // The box took the token before it learned of the expiry (it was offline) and reports the
    // pickup now: the customer has the parcel, so the pickup wins and nobody collects it.
    d.s.log.warn("late pickup of an expired order: the pickup wins",
                 {{"order", order_id},
                  {"picked_up_at", ts(e.at_ms)},
                  {"window_end", o->pickup_until_ms ? ts(*o->pickup_until_ms) : std::string()}});
    withdraw_no_show(d, tx, order_id, now);
  }
  set_order_state(tx, order_id, *to, now, "completed_at");
  drop_reservation(tx, ctx.box_id, *e.compartment, order_id);
  release_hold(tx, ctx.box_id, *e.compartment, order_id);
  // A donor return hands the item back to its donor: out of stock for good, and no purchase
  // coins (nothing was paid).
  const bool donor_return = buying_internal::is_donor_return_order(tx, order_id);
  tx.exec_params(
      "UPDATE products SET status = $3, updated_at = $2::timestamptz WHERE id IN (SELECT "
      "product_id FROM buying_order_items WHERE order_id = $1 AND active)",
      order_id, ts(now), std::string(donor_return ? "withdrawn" : "sold"));
  if (!donor_return) {
    award_coins(tx, o->customer_id, purchase_coins(o->total_cents), "purchase", "buying_order",
                order_id, now);
  }
  return ok_status();
}

Status on_return(DomainContext& d, pqxx::work& tx, const BoxEventContext& ctx,
                 const msg::Event& e) {
  const auto order_id = static_cast<std::int64_t>(*e.order_ref);
  const auto o = lock_order(tx, order_id);
  if (!o || o->return_box_id != ctx.box_id || o->return_compartment != e.compartment) {
    d.s.log.warn("return for an unknown order or another compartment ignored",
                 {{"box", ctx.box_id}, {"order_ref", order_id}, {"seq", e.seq}});
    return ok_status();
  }
  auto to = next(o->state, BuyingEvent::kReturnDeposit);
  if (!to.ok()) {
    d.s.log.warn("return event ignored", {{"order", order_id}, {"why", to.error().message()}});
    return ok_status();
  }
  const auto now = ctx.now_ms;
  set_order_state(tx, order_id, *to, now);
  drop_reservation(tx, ctx.box_id, *e.compartment, order_id);
  set_hold_filled(tx, ctx.box_id, *e.compartment, now);
  maybe_create_collecting(tx, d.config, ctx.box_id, "count", false, now);
  notify(tx, "customer", o->customer_id, "return_received",
         {{"order_id", order_id}, {"box_id", ctx.box_id}, {"compartment", *e.compartment}}, now,
         "return_received:" + std::to_string(order_id));
  return ok_status();
}

// ---- worker -------------------------------------------------------------------------------------

// Return reservations that ran out: the order is completed again. Returns affected boxes.
std::vector<std::string> expire_returns(DomainContext& d, pqxx::work& tx, std::int64_t now,
                                        int* expired) {
  std::vector<std::string> boxes;
  const auto rows = tx.exec_params(
      "SELECT id, return_box_id FROM buying_orders WHERE state = 'return_requested' AND "
      "return_until <= $1::timestamptz ORDER BY return_until LIMIT 100",
      ts(now));
  for (const auto& r : rows) {
    if (!try_lock_box(tx, r[1].as<std::string>())) continue;
    const auto o = lock_order(tx, r[0].as<std::int64_t>());
    auto to = next(o->state, BuyingEvent::kReturnExpire);
    if (!to.ok()) continue;
    drop_reservation(tx, *o->return_box_id, *o->return_compartment, o->id);
    release_hold(tx, *o->return_box_id, *o->return_compartment, o->id);
    if (o->return_token_id) (void)d.s.tokens.revoke(tx, *o->return_token_id);
    set_order_state(tx, o->id, *to, now);
    boxes.push_back(*o->return_box_id);
    ++*expired;
  }
  return boxes;
}

// ---- internal orders ----------------------------------------------------------------------------

StoreResult<std::string> pack_order(DomainContext& d, pqxx::work& tx, std::int64_t order_id,
                                    std::int64_t now) {
  return guarded([&]() -> StoreResult<std::string> {
    const auto o = lock_order(tx, order_id);
    if (!o) return DomainError::not_found("order");
    auto to = next(o->state, BuyingEvent::kPack);
    if (!to.ok()) return DomainError::transition(to.error());
    const auto location =
        tx.exec_params1("SELECT pickup_location_id FROM buying_orders WHERE id = $1", order_id)[0]
            .as<std::int64_t>();
    const auto where = allocate_compartment(tx, location, order_fitting_sizes(tx, order_id),
                                            order_id, "pickup", now);
    if (!where) {
      return DomainError::conflict("no_compartment_available",
                                   "no free compartment at the pickup location; try again later");
    }
    const auto until = now + pickup_window_ms(d);
    reserve_at_box(tx, where->box_id, where->compartment, order_id, TokenAction::kPickup, until);
    set_order_state(tx, order_id, *to, now);
    tx.exec_params(
        "UPDATE buying_orders SET box_id = $2, compartment = $3, pickup_until = $4::timestamptz "
        "WHERE id = $1",
        order_id, where->box_id, where->compartment, ts(until));
    create_internal_order(tx, TaskKind::kShipping, std::string("buying"), order_id, where->box_id,
                          {where->compartment}, true, std::nullopt, now);
    return where->box_id;
  });
}

void dispatch_order(DomainContext& d, pqxx::work& tx, std::int64_t order_id, std::int64_t now) {
  const auto o = lock_order(tx, order_id);
  if (!o) return;
  auto to = next(o->state, BuyingEvent::kDispatch);
  if (to.ok()) {
    set_order_state(tx, order_id, *to, now);
  } else {
    d.s.log.debug("dispatch not applied", {{"order", order_id}, {"why", to.error().message()}});
  }
}

Result<std::int64_t, TransitionError> refund_return(DomainContext& d, pqxx::work& tx,
                                                    std::int64_t order_id, std::int64_t now) {
  const auto o = lock_order(tx, order_id);
  auto to = next(o->state, BuyingEvent::kRefund);
  if (!to.ok()) return std::move(to).error();
  set_order_state(tx, order_id, *to, now);
  // Refund by grade, but never more than is left: customer service may have refunded part (or
  // all) of it already. The purchase coins follow everything paid back.
  const auto left = buying_internal::refundable_cents(tx, order_id);
  const auto refund = std::min(graded_refund_cents(d, tx, order_id), left);
  take_back_purchase_coins(tx, *o, (o->total_cents - left) + std::max<std::int64_t>(refund, 0),
                           now);
  if (refund <= 0) return std::int64_t{0};  // nothing left, or every item graded at 0 %
  return insert_payment(d, tx, order_id, "refund", refund, now);
}

namespace buying_internal {

bool is_donor_return_order(pqxx::work& tx, std::int64_t order_id) {
  const auto rows = tx.exec_params("SELECT kind FROM buying_orders WHERE id = $1", order_id);
  return !rows.empty() && rows[0][0].as<std::string>() == "donor_return";
}

}  // namespace buying_internal

}  // namespace reclothes::controller::domain
