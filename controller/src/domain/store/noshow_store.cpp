// No-shows (noshow_store.h): reminders, the expiry pass and the two box-event effects.
#include "noshow_store.h"

#include <chrono>

#include "buying_internal.h"
#include "reclothes/controller/domain/no_show.h"
#include "shared.h"

namespace reclothes::controller::domain {
namespace {

using buying_internal::lock_order;
using buying_internal::OrderRow;
using buying_internal::set_order_state;

// The reminder's notification: the first keeps issue 17's dedup key.
void queue_pickup_reminder(const DomainContext& d, pqxx::work& tx, const pqxx::row& r, int reminder,
                           int reminders, std::int64_t now_ms) {
  const auto order = r[0].as<std::int64_t>();
  nlohmann::json payload = {{"order_id", order},
                            {"until", ts(r[2].as<std::int64_t>())},
                            {"box_id", nullable_str(r[3])},
                            {"compartment", nullable_int(r[4])},
                            {"reminder", reminder},
                            {"policy", d.config.buying.no_show_policy}};
  if (reminders > 1 && reminder == reminders) payload["last"] = true;
  const auto key = "pickup_reminder:" + std::to_string(order) +
                   (reminder == 1 ? std::string() : ":" + std::to_string(reminder));
  notify(tx, "customer", r[1].as<std::int64_t>(), "pickup_reminder", payload, now_ms, key);
}

// The order's parcel as a collecting order of its own (trigger no_show): the hold and the order
// point at it. Returns its id.
std::int64_t collect_back(pqxx::work& tx, const OrderRow& o, std::int64_t now_ms) {
  const auto id = create_internal_order(tx, TaskKind::kCollecting, std::nullopt, std::nullopt,
                                        *o.box_id, {*o.compartment}, true, "no_show", now_ms);
  tx.exec_params(
      "INSERT INTO collecting_items (order_id, compartment, source_kind, source_id) VALUES ($1, "
      "$2, 'pickup', $3)",
      id, *o.compartment, o.id);
  tx.exec_params(
      "UPDATE compartment_holds SET collecting_order_id = $4 WHERE box_id = $1 AND compartment = "
      "$2 AND order_id = $3",
      *o.box_id, *o.compartment, o.id, id);
  tx.exec_params("UPDATE buying_orders SET no_show_collecting_id = $2 WHERE id = $1", o.id, id);
  return id;
}

}  // namespace

int remind_pickups(DomainContext& d, pqxx::work& tx, std::int64_t now_ms) {
  const auto offsets = pickup_reminder_offsets(d.config.buying);
  if (offsets.empty()) return 0;
  const auto horizon =
      now_ms + std::chrono::duration_cast<std::chrono::milliseconds>(offsets.front()).count();
  const int reminders = static_cast<int>(offsets.size());
  const auto rows = tx.exec_params(
      "SELECT id, customer_id, " + ms_of("pickup_until") +
          ", box_id, compartment, pickup_reminders_sent FROM buying_orders WHERE state = "
          "'ready_for_pickup' AND pickup_reminders_sent < $3 AND pickup_until <= $1::timestamptz "
          "AND pickup_until > $2::timestamptz ORDER BY pickup_until LIMIT 200 FOR UPDATE SKIP "
          "LOCKED",
      ts(horizon), ts(now_ms), reminders);
  int queued = 0;
  for (const auto& r : rows) {
    const int due = pickup_reminders_due(r[2].as<std::int64_t>(), now_ms, offsets);
    if (due <= r[5].as<int>()) continue;
    tx.exec_params(
        "UPDATE buying_orders SET pickup_reminders_sent = $2, expiry_notified = true WHERE id = $1",
        r[0].as<std::int64_t>(), due);
    queue_pickup_reminder(d, tx, r, due, reminders, now_ms);
    ++queued;
  }
  return queued;
}

PickupExpiries expire_pickups(DomainContext& d, pqxx::work& tx, std::int64_t now_ms) {
  PickupExpiries out;
  const auto rows = tx.exec_params(
      "SELECT id, box_id FROM buying_orders WHERE state = 'ready_for_pickup' AND pickup_until <= "
      "$1::timestamptz AND box_id IS NOT NULL ORDER BY pickup_until LIMIT 100",
      ts(now_ms));
  for (const auto& r : rows) {
    // The box first, as event application locks it: a pickup event of this box is either
    // applied before (the order is completed) or waits until this expiry is committed.
    if (!try_lock_box(tx, r[1].as<std::string>())) continue;
    const auto o = lock_order(tx, r[0].as<std::int64_t>());
    if (!o || !o->box_id || !o->compartment) continue;
    auto to = next(o->state, BuyingEvent::kPickupExpire);
    if (!to.ok() || !o->pickup_until_ms || *o->pickup_until_ms > now_ms) continue;
    drop_reservation(tx, *o->box_id, *o->compartment, o->id);
    if (o->pickup_token_id) {
      if (auto revoked = d.s.tokens.revoke(tx, *o->pickup_token_id); revoked.ok()) {
        out.revokes.push_back(
            {*o->box_id, record_revoke_command(tx, *o->box_id, {*o->pickup_token_id},
                                               "pickup window ended", now_ms)});
      } else {
        d.s.log.warn("revoking a pickup token failed",
                     {{"order", o->id}, {"error", revoked.error().message}});
      }
    }
    const auto collecting = collect_back(tx, *o, now_ms);
    set_order_state(tx, o->id, *to, now_ms, "pickup_expired_at");
    notify(tx, "customer", o->customer_id, "pickup_expired",
           {{"order_id", o->id},
            {"box_id", *o->box_id},
            {"compartment", *o->compartment},
            {"until", ts(*o->pickup_until_ms)},
            {"policy", d.config.buying.no_show_policy},
            {"amount_cents", o->total_cents},
            {"currency", d.config.buying.currency}},
           now_ms, "pickup_expired:" + std::to_string(o->id));
    d.s.log.info("pickup window ended: collecting the parcel back",
                 {{"order", o->id}, {"box", *o->box_id}, {"collecting", collecting}});
    out.boxes.push_back(*o->box_id);
    ++out.expired;
  }
  return out;
}

void collect_no_show(const DomainContext& d, pqxx::work& tx, std::int64_t order_id,
                     std::int64_t now_ms) {
  const auto o = lock_order(tx, order_id);
  if (!o) return;
  const auto policy = no_show_policy(d.config.buying);
  auto to = next(o->state, no_show_collect_event(policy));
  if (!to.ok()) {
    d.s.log.warn("no-show collect ignored", {{"order", order_id}, {"why", to.error().message()}});
    return;
  }
  buying_internal::release_products(tx, order_id, now_ms);
  set_order_state(tx, order_id, *to, now_ms);
  if (policy != NoShowPolicy::kRefund) return;
  // What is left to refund: customer service may have refunded part already, and a donor
  // return's order (total 0) has nothing to give back.
  const auto amount = buying_internal::refundable_cents(tx, order_id);
  if (amount <= 0) return;
  // No request holds this refund's first attempt (an event made it): due at once for the worker.
  const auto payment = buying_internal::insert_payment(d, tx, order_id, "refund", amount, now_ms);
  tx.exec_params("UPDATE payments SET next_attempt_at = $2::timestamptz WHERE id = $1", payment,
                 ts(now_ms));
}

void withdraw_no_show(const DomainContext& d, pqxx::work& tx, std::int64_t order_id,
                      std::int64_t now_ms) {
  const auto items = tx.exec_params(
      "SELECT ci.order_id, ci.compartment, o.box_id, o.token_id FROM collecting_items ci JOIN "
      "internal_orders o ON o.id = ci.order_id WHERE ci.source_kind = 'pickup' AND ci.source_id = "
      "$1 AND ci.collected_at IS NULL FOR UPDATE OF ci, o",
      order_id);
  for (const auto& it : items) {
    const auto collecting = it[0].as<std::int64_t>();
    const auto compartment = it[1].as<int>();
    tx.exec_params("DELETE FROM collecting_items WHERE order_id = $1 AND compartment = $2",
                   collecting, compartment);
    tx.exec_params(
        "UPDATE internal_orders SET compartments = array_remove(compartments, $2), updated_at = "
        "$3::timestamptz WHERE id = $1",
        collecting, compartment, ts(now_ms));
    const auto left =
        tx.exec_params1("SELECT count(*) FROM collecting_items WHERE order_id = $1", collecting)[0]
            .as<std::int64_t>();
    if (left > 0) continue;
    auto cancelled = advance_task(tx, collecting, TaskEvent::kCancel, now_ms);
    if (!cancelled.ok()) {
      d.s.log.warn("no-show collecting order not cancelled",
                   {{"order", collecting}, {"why", cancelled.error().message()}});
      continue;
    }
    if (!it[3].is_null() && d.s.tokens.revoke(tx, it[3].as<std::string>()).ok()) {
      mark_config_dirty(tx, it[2].as<std::string>());  // the box learns it with its config
    }
  }
}

}  // namespace reclothes::controller::domain
