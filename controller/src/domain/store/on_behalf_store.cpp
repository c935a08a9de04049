// Customer service on a customer's behalf: every SQL statement of the staff search, the case view
// and the actions (on_behalf_store.h).
#include "on_behalf_store.h"

#include <vector>

#include "buying_internal.h"
#include "donation_store.h"
#include "management_store.h"
#include "reclothes/controller/domain/on_behalf.h"
#include "shared.h"

namespace reclothes::controller::domain {
namespace {

using buying_internal::lock_order;
using buying_internal::refundable_cents;

// ---- search -------------------------------------------------------------------------------------

// The WHERE clause of a search and its parameters ($1...).
struct OrderFilter {
  std::string where = "true";
  std::vector<std::string> params;

  // clause has '?' where the value goes (every '?' is the same parameter).
  void add(const std::string& clause, std::string value) {
    params.push_back(std::move(value));
    const auto p = "$" + std::to_string(params.size());
    std::string c;
    for (char ch : clause) {
      if (ch == '?') {
        c += p;
      } else {
        c += ch;
      }
    }
    where += " AND " + c;
  }
};

// The columns each order table names differently.
struct OrderTable {
  const char* table;       // "buying_orders o" / "donations o"
  const char* location;    // its location column
  const char* box_clause;  // with '?' for the box id
  const char* tracking;    // with '?' for the tracking code
};

const OrderTable kBuyingTable = {
    "buying_orders o", "o.pickup_location_id", "(o.box_id = ? OR o.return_box_id = ?)",
    "EXISTS (SELECT 1 FROM internal_orders io WHERE io.tracking_code = ? AND ((io.source_kind = "
    "'buying' AND io.source_id = o.id) OR io.id IN (SELECT ci.order_id FROM collecting_items ci "
    "WHERE ci.source_kind = 'return' AND ci.source_id = o.id)))"};

const OrderTable kDonationTable = {
    "donations o", "o.location_id", "o.box_id = ?",
    "EXISTS (SELECT 1 FROM internal_orders io WHERE io.tracking_code = ? AND (io.id = "
    "o.collecting_order_id OR io.id IN (SELECT ci.order_id FROM collecting_items ci WHERE "
    "ci.source_kind = 'donation' AND ci.source_id = o.id)))"};

OrderFilter order_filter(const OrderTable& t, const CustomerOrderQuery& q) {
  OrderFilter f;
  if (q.customer_id) f.add("o.customer_id = ?::bigint", std::to_string(*q.customer_id));
  if (q.email) {
    // Finding by exact email is allowed even when the result is shown masked.
    f.add("o.customer_id IN (SELECT id FROM customers WHERE email = lower(?))", *q.email);
  }
  if (q.state) f.add("o.state = ?", *q.state);
  if (q.box_id) f.add(t.box_clause, *q.box_id);
  if (q.location_id)
    f.add(std::string(t.location) + " = ?::bigint", std::to_string(*q.location_id));
  if (q.created_from_ms) f.add("o.created_at >= ?::timestamptz", ts(*q.created_from_ms));
  if (q.created_to_ms) f.add("o.created_at < ?::timestamptz", ts(*q.created_to_ms));
  if (q.tracking_code) f.add(t.tracking, *q.tracking_code);
  return f;
}

using OrderJson = nlohmann::json (*)(pqxx::work&, std::int64_t, bool);

CustomerOrderPage search_orders(pqxx::work& tx, const OrderTable& t, const CustomerOrderQuery& q,
                                OrderJson order_json) {
  auto f = order_filter(t, q);
  CustomerOrderPage page;
  page.total = tx.exec_params1(std::string("SELECT count(*) FROM ") + t.table + " WHERE " + f.where,
                               pqxx::prepare::make_dynamic_params(f.params))[0]
                   .as<std::int64_t>();
  if (q.before_id) f.add("o.id < ?::bigint", std::to_string(*q.before_id));
  const auto rows =
      tx.exec_params(std::string("SELECT o.id, o.customer_id FROM ") + t.table + " WHERE " +
                         f.where + " ORDER BY o.id DESC LIMIT " + std::to_string(q.limit + 1),
                     pqxx::prepare::make_dynamic_params(f.params));
  for (const auto& r : rows) {
    if (static_cast<std::int64_t>(page.items.size()) == q.limit) {
      page.next_before_id = page.items.back()["id"].get<std::int64_t>();
      break;
    }
    auto item = order_json(tx, r[0].as<std::int64_t>(), false);
    item["customer"] = customer_contact_json(tx, r[1].as<std::int64_t>(), q.full);
    page.items.push_back(std::move(item));
  }
  return page;
}

// ---- the case view ------------------------------------------------------------------------------

nlohmann::json json_text(const pqxx::field& f) {
  if (f.is_null()) return nullptr;
  return nlohmann::json::parse(f.c_str(), nullptr, false);
}

nlohmann::json payments_json(pqxx::work& tx, std::int64_t order_id) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : tx.exec_params(
           "SELECT id, kind, state, amount_cents, currency, reason, requested_by, attempts, "
           "last_error, " +
               ms_of("created_at") + ", " + ms_of("updated_at") +
               " FROM payments WHERE order_id = $1 ORDER BY id",
           order_id)) {
    out.push_back({{"id", r[0].as<std::int64_t>()},
                   {"kind", r[1].as<std::string>()},
                   {"state", r[2].as<std::string>()},
                   {"amount_cents", r[3].as<std::int64_t>()},
                   {"currency", r[4].as<std::string>()},
                   {"reason", nullable_str(r[5])},
                   {"requested_by", nullable_int(r[6])},
                   {"attempts", r[7].as<int>()},
                   {"last_error", nullable_str(r[8])},
                   {"created_at", ts(r[9].as<std::int64_t>())},
                   {"updated_at", ts(r[10].as<std::int64_t>())}});
  }
  return out;
}

// The actor of a recorded transition ("staff:<id>"), or the usual one of that transition.
nlohmann::json actor_json(const std::string& order_kind, const pqxx::field& actor,
                          const std::string& from, const std::string& to) {
  if (!actor.is_null()) {
    const auto a = actor.as<std::string>();
    const auto colon = a.find(':');
    if (colon != std::string::npos) {
      return {{"kind", a.substr(0, colon)},
              {"id", std::stoll(a.substr(colon + 1))},
              {"recorded", true}};
    }
    return {{"kind", a}, {"id", nullptr}, {"recorded", true}};
  }
  return {{"kind", usual_actor(order_kind, from, to)}, {"id", nullptr}, {"recorded", false}};
}

nlohmann::json history_json(pqxx::work& tx, const std::string& order_kind, std::int64_t id) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : tx.exec_params("SELECT from_state, to_state, actor, reason, " + ms_of("at") +
                                          " FROM order_transitions WHERE order_kind = $1 AND "
                                          "order_id = $2 ORDER BY id",
                                      order_kind, id)) {
    const auto from = r[0].is_null() ? std::string() : r[0].as<std::string>();
    const auto to = r[1].as<std::string>();
    out.push_back({{"from", nullable_str(r[0])},
                   {"to", to},
                   {"at", ts(r[4].as<std::int64_t>())},
                   {"actor", actor_json(order_kind, r[2], from, to)},
                   {"reason", nullable_str(r[3])}});
  }
  return out;
}

// The tokens issued for the order (never their texts): revoked when, consumed at which box event.
nlohmann::json tokens_json(pqxx::work& tx, std::int64_t id) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : tx.exec_params(
           "SELECT t.token_id, t.action, t.box_id, array_to_json(t.compartments)::text, " +
               ms_of("t.issued_at") + ", " + ms_of("t.expires") + ", " + ms_of("r.revoked_at") +
               ", e.seq, " + ms_of("e.at") + ", " + ms_of("e.applied_at") +
               " FROM issued_tokens t LEFT JOIN revoked_tokens r ON r.token_id = t.token_id "
               "LEFT JOIN LATERAL (SELECT seq, at, applied_at FROM box_events WHERE box_id = "
               "t.box_id AND kind = 'access_completed' AND payload->>'token_id' = t.token_id "
               "ORDER BY seq LIMIT 1) e ON true WHERE t.order_ref = $1 ORDER BY t.issued_at, "
               "t.token_id",
           id)) {
    nlohmann::json consumed = nullptr;
    if (!r[7].is_null()) {
      consumed = {{"box_seq", r[7].as<std::int64_t>()},
                  {"at", ts(r[8].as<std::int64_t>())},
                  {"applied_at", ts(r[9].as<std::int64_t>())}};
    }
    out.push_back({{"token_id", r[0].as<std::string>()},
                   {"action", r[1].as<std::string>()},
                   {"box_id", r[2].as<std::string>()},
                   {"compartments", json_text(r[3])},
                   {"issued_at", ts(r[4].as<std::int64_t>())},
                   {"expires", ts(r[5].as<std::int64_t>())},
                   {"revoked_at", nullable_ts(r[6])},
                   {"consumed", consumed}});
  }
  return out;
}

// Internal orders made for the order: source_kinds name its own (packing, shipping, checking),
// collect_kind the collecting orders that fetched it from a box.
nlohmann::json internal_orders_json(pqxx::work& tx, std::int64_t id,
                                    const std::string& source_kinds,
                                    const std::string& collect_kind) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : tx.exec_params(
           "SELECT id, kind, state, assignee_id, box_id, array_to_json(compartments)::text, "
           "tracking_code, " +
               ms_of("created_at") + ", " + ms_of("done_at") +
               " FROM internal_orders WHERE (source_kind = ANY($2::text[]) AND source_id = $1) "
               "OR id IN (SELECT order_id FROM collecting_items WHERE source_kind = $3 AND "
               "source_id = $1) ORDER BY id",
           id, source_kinds, collect_kind)) {
    out.push_back({{"id", r[0].as<std::int64_t>()},
                   {"kind", r[1].as<std::string>()},
                   {"state", r[2].as<std::string>()},
                   {"assignee_id", nullable_int(r[3])},
                   {"box_id", nullable_str(r[4])},
                   {"compartments", json_text(r[5])},
                   {"tracking_code", nullable_str(r[6])},
                   {"created_at", ts(r[7].as<std::int64_t>())},
                   {"done_at", nullable_ts(r[8])}});
  }
  return out;
}

nlohmann::json audit_json(pqxx::work& tx, const std::string& target_types, std::int64_t id) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : tx.exec_params(
           "SELECT id, " + ms_of("at") +
               ", actor_kind, actor_id, action, before::text, after::text, outcome, reason, "
               "request_id FROM audit_log WHERE target_type = ANY($1::text[]) AND target_id = $2 "
               "ORDER BY id",
           target_types, std::to_string(id))) {
    out.push_back({{"id", r[0].as<std::int64_t>()},
                   {"at", ts(r[1].as<std::int64_t>())},
                   {"actor_kind", r[2].as<std::string>()},
                   {"actor_id", nullable_int(r[3])},
                   {"action", r[4].as<std::string>()},
                   {"before", json_text(r[5])},
                   {"after", json_text(r[6])},
                   {"outcome", r[7].as<std::string>()},
                   {"reason", nullable_str(r[8])},
                   {"request_id", nullable_str(r[9])}});
  }
  return out;
}

// ---- actions ------------------------------------------------------------------------------------

// The state changes of this transaction are recorded as the staff member's, with the reason
// (order_transitions; the setting ends with the transaction).
void record_actor(pqxx::work& tx, const OnBehalf& who) {
  tx.exec_params(
      "SELECT set_config('reclothes.actor', $1, true), set_config('reclothes.reason', $2, true)",
      "staff:" + std::to_string(who.staff_id), who.reason);
}

// What was charged and what went back (refunds not failed) of a buying order.
struct Money {
  std::int64_t charged = 0;
  std::int64_t refunded = 0;
};

Money order_money(pqxx::work& tx, std::int64_t order_id) {
  const auto r = tx.exec_params1(
      "SELECT COALESCE(sum(amount_cents) FILTER (WHERE kind = 'charge' AND state = 'succeeded'), "
      "0), COALESCE(sum(amount_cents) FILTER (WHERE kind = 'refund' AND state <> 'failed'), 0) "
      "FROM payments WHERE order_id = $1",
      order_id);
  return {r[0].as<std::int64_t>(), r[1].as<std::int64_t>()};
}

nlohmann::json money_state(BuyingState state, const Money& m) {
  return {{"state", std::string(to_string(state))}, {"refunded_cents", m.refunded}};
}

std::int64_t insert_staff_refund(const DomainContext& d, pqxx::work& tx, std::int64_t order_id,
                                 std::int64_t amount, const OnBehalf& who, std::int64_t now) {
  const auto prefix = "order-" + std::to_string(order_id) + "-refund-staff-";
  const auto n = tx.exec_params1(
                       "SELECT count(*) FROM payments WHERE order_id = $1 AND kind = 'refund' AND "
                       "starts_with(idempotency_key, $2)",
                       order_id, prefix)[0]
                     .as<std::int64_t>();
  // Pending, held for one retry interval: the request attempts it after its commit, the worker
  // only if that attempt did not settle it.
  return tx
      .exec_params1(
          "INSERT INTO payments (order_id, kind, idempotency_key, amount_cents, currency, state, "
          "reason, requested_by, next_attempt_at, created_at, updated_at) VALUES ($1, 'refund', "
          "$2, $3, $4, 'pending', $5, $6, $7::timestamptz + $8::bigint * interval '1 second', "
          "$7::timestamptz, $7::timestamptz) RETURNING id",
          order_id, prefix + std::to_string(n + 1), amount, d.config.buying.currency, who.reason,
          who.staff_id, ts(now),
          static_cast<std::int64_t>(d.config.payments.retry_interval.count()))[0]
      .as<std::int64_t>();
}

}  // namespace

// ---- search and view ----------------------------------------------------------------------------

StoreResult<CustomerOrderPage> search_buying_orders(pqxx::work& tx, const CustomerOrderQuery& q) {
  return guarded([&]() -> StoreResult<CustomerOrderPage> {
    return search_orders(tx, kBuyingTable, q, buying_order_json);
  });
}

StoreResult<CustomerOrderPage> search_donations(pqxx::work& tx, const CustomerOrderQuery& q) {
  return guarded([&]() -> StoreResult<CustomerOrderPage> {
    return search_orders(tx, kDonationTable, q, donation_json);
  });
}

StoreResult<nlohmann::json> buying_order_case(pqxx::work& tx, std::int64_t id, bool full) {
  return guarded([&]() -> StoreResult<nlohmann::json> {
    auto order = buying_order_json(tx, id, false);
    if (order.is_null()) return DomainError::not_found("order");
    const auto m = order_money(tx, id);
    return nlohmann::json{
        {"order", order},
        {"customer", customer_contact_json(tx, order["customer_id"].get<std::int64_t>(), full)},
        {"charged_cents", m.charged},
        {"refunded_cents", m.refunded},
        {"refundable_cents", m.charged - m.refunded},
        {"payments", payments_json(tx, id)},
        {"history", history_json(tx, "buying", id)},
        {"tokens", tokens_json(tx, id)},
        {"internal_orders", internal_orders_json(tx, id, "{buying,return}", "return")},
        {"audit", audit_json(tx, "{buying_order,order}", id)}};
  });
}

StoreResult<nlohmann::json> donation_case(pqxx::work& tx, std::int64_t id, bool full) {
  return guarded([&]() -> StoreResult<nlohmann::json> {
    auto donation = donation_json(tx, id, false);
    if (donation.is_null()) return DomainError::not_found("donation");
    return nlohmann::json{
        {"donation", donation},
        {"customer", customer_contact_json(tx, donation["customer_id"].get<std::int64_t>(), full)},
        {"history", history_json(tx, "donating", id)},
        {"tokens", tokens_json(tx, id)},
        {"internal_orders", internal_orders_json(tx, id, "{donation}", "donation")},
        {"audit", audit_json(tx, "{donation}", id)}};
  });
}

// ---- actions ------------------------------------------------------------------------------------

StoreResult<OnBehalfChange> cancel_order_on_behalf(DomainContext& d, pqxx::work& tx,
                                                   std::int64_t order_id, const OnBehalf& who,
                                                   std::int64_t now_ms) {
  return guarded([&]() -> StoreResult<OnBehalfChange> {
    const auto o = lock_order(tx, order_id);
    if (!o) return DomainError::not_found("order");
    const auto money = order_money(tx, order_id);
    record_actor(tx, who);
    auto cancelled = buying_internal::cancel_in_transaction(d, tx, order_id, std::nullopt, now_ms);
    if (!cancelled.ok()) return std::move(cancelled).error();
    OnBehalfChange change;
    change.before = money_state(o->state, money);
    change.after = money_state(BuyingState::kCancelled,
                               {money.charged, money.refunded + cancelled->refund_cents});
    change.after["refund_cents"] = cancelled->refund_cents;
    change.publish_config = cancelled->freed_box;
    change.refund_payment_id = cancelled->refund_payment_id;
    return change;
  });
}

StoreResult<OnBehalfChange> refund_order_on_behalf(DomainContext& d, pqxx::work& tx,
                                                   std::int64_t order_id,
                                                   std::optional<std::int64_t> amount_cents,
                                                   const OnBehalf& who, std::int64_t now_ms) {
  return guarded([&]() -> StoreResult<OnBehalfChange> {
    const auto o = lock_order(tx, order_id);
    if (!o) return DomainError::not_found("order");
    auto allowed = next(o->state, BuyingEvent::kStaffRefund);
    if (!allowed.ok()) return DomainError::transition(allowed.error());
    const auto money = order_money(tx, order_id);
    const auto left = refundable_cents(tx, order_id);
    if (left <= 0) {
      return DomainError::conflict(
          "nothing_to_refund",
          "order " + std::to_string(order_id) +
              " has nothing left to refund: " + std::to_string(money.refunded) + " of " +
              std::to_string(money.charged) + " cents were refunded already",
          {{"refundable_cents", 0}, {"refunded_cents", money.refunded}});
    }
    const auto amount = amount_cents.value_or(left);
    if (amount > left) {
      return DomainError::conflict("refund_exceeds_refundable",
                                   "at most " + std::to_string(left) +
                                       " cents are left to refund on order " +
                                       std::to_string(order_id) + "; ask for that much or less",
                                   {{"refundable_cents", left}, {"amount_cents", amount}});
    }
    record_actor(tx, who);
    OnBehalfChange change;
    change.refund_payment_id = insert_staff_refund(d, tx, order_id, amount, who, now_ms);
    change.before = money_state(o->state, money);
    change.after = money_state(o->state, {money.charged, money.refunded + amount});
    change.after["amount_cents"] = amount;
    change.after["payment_id"] = change.refund_payment_id;
    return change;
  });
}

StoreResult<OnBehalfChange> resend_pickup_code(pqxx::work& tx, std::int64_t order_id,
                                               const OnBehalf& who, std::int64_t now_ms) {
  return guarded([&]() -> StoreResult<OnBehalfChange> {
    const auto o = lock_order(tx, order_id);
    if (!o) return DomainError::not_found("order");
    auto allowed = next(o->state, BuyingEvent::kResendPickupCode);
    if (!allowed.ok()) return DomainError::transition(allowed.error());
    const auto r = tx.exec_params1("SELECT pickup_token_text IS NOT NULL, " +
                                       ms_of("pickup_until") + " FROM buying_orders WHERE id = $1",
                                   order_id);
    if (!r[0].as<bool>() || !o->box_id || !o->compartment) {
      return DomainError::conflict("no_token", "the order has no usable pickup code to send");
    }
    record_actor(tx, who);
    nlohmann::json payload = {{"order_id", order_id},
                              {"box_id", *o->box_id},
                              {"compartment", *o->compartment},
                              {"until", nullable_ts(r[1])},
                              {"qr_path", "/v1/orders/" + std::to_string(order_id) + "/qr.png"}};
    notify(tx, "customer", o->customer_id, "pickup_code_resent", payload, now_ms);
    const auto sent =
        tx.exec_params1(
              "SELECT count(*) FROM notifications WHERE recipient_kind = 'customer' AND "
              "recipient_id = $1 AND kind = 'pickup_code_resent' AND payload->>'order_id' = $2",
              o->customer_id, std::to_string(order_id))[0]
            .as<std::int64_t>();
    OnBehalfChange change;
    change.before = {{"state", std::string(to_string(o->state))}, {"resent", sent - 1}};
    change.after = {{"state", std::string(to_string(o->state))},
                    {"resent", sent},
                    {"pickup_token_id",
                     o->pickup_token_id ? nlohmann::json(*o->pickup_token_id) : nlohmann::json()}};
    return change;
  });
}

StoreResult<OnBehalfChange> cancel_donation_on_behalf(DomainContext& d, pqxx::work& tx,
                                                      std::int64_t donation_id, const OnBehalf& who,
                                                      std::int64_t now_ms) {
  std::int64_t customer_id = 0;
  std::string state;
  {
    auto found = guarded([&]() -> StoreResult<bool> {
      const auto rows =
          tx.exec_params("SELECT customer_id, state FROM donations WHERE id = $1", donation_id);
      if (rows.empty()) return DomainError::not_found("donation");
      customer_id = rows[0][0].as<std::int64_t>();
      state = rows[0][1].as<std::string>();
      record_actor(tx, who);
      return true;
    });
    if (!found.ok()) return std::move(found).error();
  }
  auto cancelled = cancel_donation(d, tx, customer_id, donation_id, now_ms);
  if (!cancelled.ok()) return std::move(cancelled).error();
  OnBehalfChange change;
  change.before = {{"state", state}};
  change.after = {{"state", cancelled->donation["state"]},
                  {"token_revoked", cancelled->revoke.has_value()}};
  change.publish_config = cancelled->box_id;
  change.revoke = cancelled->revoke;
  return change;
}

}  // namespace reclothes::controller::domain
