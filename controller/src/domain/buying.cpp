// Buying: product catalogue, cart, buying orders (payment, cancel with refund, return through a
// box), the payment attempt logic, and the box events of a purchase (courier load, pickup,
// return deposit).
#include <algorithm>
#include <set>

#include "common.h"
#include "reclothes/controller/domain/png.h"

namespace reclothes::controller::domain {
namespace {

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

std::optional<OrderRow> lock_order(pqxx::work& tx, std::int64_t id) {
  const auto rows = tx.exec_params(
      "SELECT id, customer_id, state, total_cents, box_id, compartment, pickup_token_id, "
      "return_box_id, return_compartment, return_token_id, " +
          ms_of("completed_at") + ", " + ms_of("pickup_until") +
          " FROM buying_orders WHERE id = $1 FOR UPDATE",
      id);
  if (rows.empty()) return std::nullopt;
  const auto& r = rows[0];
  OrderRow o;
  o.id = r[0].as<std::int64_t>();
  o.customer_id = r[1].as<std::int64_t>();
  o.state = *buying_state_from_string(r[2].as<std::string>());
  o.total_cents = r[3].as<std::int64_t>();
  o.box_id = opt<std::string>(r[4]);
  o.compartment = opt<int>(r[5]);
  o.pickup_token_id = opt<std::string>(r[6]);
  o.return_box_id = opt<std::string>(r[7]);
  o.return_compartment = opt<int>(r[8]);
  o.return_token_id = opt<std::string>(r[9]);
  o.completed_ms = opt<std::int64_t>(r[10]);
  o.pickup_until_ms = opt<std::int64_t>(r[11]);
  return o;
}

void set_order_state(pqxx::work& tx, std::int64_t id, BuyingState state, std::int64_t now,
                     const char* stamp_column = nullptr) {
  std::string sql = "UPDATE buying_orders SET state = $2, updated_at = $3::timestamptz";
  if (stamp_column) sql += std::string(", ") + stamp_column + " = $3::timestamptz";
  // Token texts are shown only in the state that uses them.
  if (state != BuyingState::kReadyForPickup) sql += ", pickup_token_text = NULL";
  if (state != BuyingState::kReturnRequested) sql += ", return_token_text = NULL";
  tx.exec_params(sql + " WHERE id = $1", id, std::string(to_string(state)), ts(now));
}

// The sale is off: the products may be sold again.
void release_products(pqxx::work& tx, std::int64_t order_id, std::int64_t now) {
  tx.exec_params(
      "UPDATE products SET status = 'available', updated_at = $2::timestamptz WHERE status = "
      "'reserved' AND id IN (SELECT product_id FROM buying_order_items WHERE order_id = $1 AND "
      "active)",
      order_id, ts(now));
  tx.exec_params("UPDATE buying_order_items SET active = false WHERE order_id = $1", order_id);
}

// A pending payment. The request that creates it holds it for one retry interval (it makes the
// first attempt itself, forced); only after that may the worker try.
std::int64_t insert_payment(DomainContext& d, pqxx::work& tx, std::int64_t order_id,
                            const std::string& kind, std::int64_t amount, std::int64_t now) {
  return tx
      .exec_params1(
          "INSERT INTO payments (order_id, kind, idempotency_key, amount_cents, currency, state, "
          "next_attempt_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'pending', "
          "$6::timestamptz + $7::bigint * interval '1 second', $6::timestamptz, $6::timestamptz) "
          "RETURNING id",
          order_id, kind, "order-" + std::to_string(order_id) + "-" + kind, amount,
          d.config.buying.currency, ts(now),
          static_cast<std::int64_t>(d.config.payments.retry_interval.count()))[0]
      .as<std::int64_t>();
}

std::vector<ItemCount> order_item_counts(pqxx::work& tx, std::int64_t order_id) {
  std::vector<ItemCount> out;
  for (const auto& r : tx.exec_params(
           "SELECT p.category FROM buying_order_items i JOIN products p ON p.id = i.product_id "
           "WHERE i.order_id = $1",
           order_id)) {
    const auto cat = r[0].as<std::string>();
    // Staff may have typed a category the size rule does not know: count it as a top.
    out.push_back({find_category(cat) ? cat : std::string("tops"), 1});
  }
  return out;
}

Result<std::int64_t, ApiError> owned_order(DomainContext& d, RequestContext& ctx) {
  const auto id = id_param(ctx, "id");
  const auto rows = ctx.tx().exec_params("SELECT customer_id FROM buying_orders WHERE id = $1", id);
  if (rows.empty()) return ApiError::not_found("order");
  if (rows[0][0].as<std::int64_t>() != ctx.principal().account_id) {
    return not_owner(d.s, ctx, "order", id);
  }
  return id;
}

// ---- catalogue and cart -------------------------------------------------------------------------

HandlerResult list_products(RequestContext& ctx) {
  std::string where = "status = 'available' AND price_cents IS NOT NULL";
  std::vector<std::string> params;
  const auto add = [&](const std::string& clause, std::string value) {
    params.push_back(std::move(value));
    std::string c = clause;
    const auto pos = c.find('?');
    c.replace(pos, 1, "$" + std::to_string(params.size()));
    where += " AND " + c;
  };
  if (auto c = ctx.query("category")) add("category = ?", *c);
  if (auto s = ctx.query("size")) add("size = ?", *s);
  if (auto q = ctx.query("q")) {
    if (q->size() > 100) return invalid_query("q", "at most 100 characters");
    add("(strpos(lower(title), lower(?)) > 0 OR strpos(lower(description), lower($" +
            std::to_string(params.size() + 1) + ")) > 0)",
        *q);
  }
  auto min_price = query_int(ctx, "min_price", 0, INT64_MAX / 2);
  if (!min_price.ok()) return std::move(min_price).error();
  auto max_price = query_int(ctx, "max_price", 0, INT64_MAX / 2);
  if (!max_price.ok()) return std::move(max_price).error();
  if (*min_price) add("price_cents >= ?::bigint", std::to_string(**min_price));
  if (*max_price) add("price_cents <= ?::bigint", std::to_string(**max_price));
  auto limit = query_int(ctx, "limit", 1, 100);
  if (!limit.ok()) return std::move(limit).error();
  auto offset = query_int(ctx, "offset", 0, 1000000);
  if (!offset.ok()) return std::move(offset).error();
  std::string order = "id DESC";
  if (auto sort = ctx.query("sort")) {
    if (*sort == "price_asc") {
      order = "price_cents ASC, id";
    } else if (*sort == "price_desc") {
      order = "price_cents DESC, id";
    } else if (*sort != "newest") {
      return invalid_query("sort", "must be newest, price_asc or price_desc");
    }
  }
  const auto lim = limit->value_or(20);
  const auto off = offset->value_or(0);
  const auto p = pqxx::prepare::make_dynamic_params(params);
  auto& tx = ctx.tx();
  const auto total =
      tx.exec_params1("SELECT count(*) FROM products WHERE " + where, p)[0].as<std::int64_t>();
  nlohmann::json items = nlohmann::json::array();
  for (const auto& row : tx.exec_params("SELECT " + kProductColumns + " FROM products WHERE " +
                                            where + " ORDER BY " + order + " LIMIT " +
                                            std::to_string(lim) + " OFFSET " + std::to_string(off),
                                        p)) {
    items.push_back(product_json(row));
  }
  return Response::ok({{"items", items}, {"total", total}, {"limit", lim}, {"offset", off}});
}

// The cart from rows of kProductColumns (rows whose id is NULL are skipped: the write statements
// below return one such row for an empty cart).
nlohmann::json cart_json(const pqxx::result& rows) {
  nlohmann::json items = nlohmann::json::array();
  std::int64_t total = 0;
  for (const auto& row : rows) {
    if (row[0].is_null()) continue;
    auto p = product_json(row);
    if (p["listed"].get<bool>()) total += p["price_cents"].get<std::int64_t>();
    items.push_back(std::move(p));
  }
  return {{"items", items}, {"total_cents", total}};
}

nlohmann::json cart_json(pqxx::transaction_base& tx, std::int64_t customer_id) {
  static const std::string kSql =
      "SELECT " + kProductColumns +
      " FROM products WHERE id IN (SELECT product_id FROM cart_items WHERE customer_id = $1) "
      "ORDER BY id";
  return cart_json(exec_hot(tx, "cart_read", kSql, customer_id));
}

// Adding to and removing from the cart: each is one statement that writes and returns the cart
// after the write, plus (last column) whether the write found its product. Run in autocommit, a
// request is two round trips to PostgreSQL: its session lookup and this.
const std::string& cart_add_sql() {
  static const std::string kSql =
      "WITH p AS (SELECT id FROM products WHERE id = $2 AND status = 'available' AND "
      "price_cents IS NOT NULL), ins AS (INSERT INTO cart_items (customer_id, product_id, "
      "added_at) SELECT $1, id, $3::timestamptz FROM p ON CONFLICT DO NOTHING) SELECT " +
      kProductColumns +
      ", (SELECT count(*) FROM p) FROM (SELECT 1) AS one LEFT JOIN products ON products.id IN "
      "(SELECT product_id FROM cart_items WHERE customer_id = $1 UNION SELECT id FROM p) "
      "ORDER BY id";
  return kSql;
}

const std::string& cart_remove_sql() {
  static const std::string kSql =
      "WITH d AS (DELETE FROM cart_items WHERE customer_id = $1 AND product_id = $2 RETURNING 1) "
      "SELECT " +
      kProductColumns +
      ", (SELECT count(*) FROM d) FROM (SELECT 1) AS one LEFT JOIN products ON products.id IN "
      "(SELECT product_id FROM cart_items WHERE customer_id = $1 AND product_id <> $2) "
      "ORDER BY id";
  return kSql;
}

bool cart_write_found(const pqxx::result& rows) {
  return !rows.empty() && rows[0][10].as<std::int64_t>() > 0;
}

// ---- orders -------------------------------------------------------------------------------------

struct Created {
  std::int64_t order_id = 0;
  std::int64_t payment_id = 0;
  std::optional<ApiError> refused;
};

void fail_payment(DomainContext& d, std::int64_t payment_id, std::int64_t order_id,
                  const std::string& reason) {
  auto r = d.s.db.with_transaction([&](pqxx::work& tx) -> Status {
    const auto now = d.now_ms();
    tx.exec_params(
        "UPDATE payments SET state = 'failed', last_error = $2, next_attempt_at = NULL, "
        "updated_at = $3::timestamptz WHERE id = $1 AND state = 'pending'",
        payment_id, reason, ts(now));
    const auto o = lock_order(tx, order_id);
    auto to = next(o->state, BuyingEvent::kPaymentDeclined);
    if (!to.ok()) return ok_status();
    set_order_state(tx, order_id, *to, now);
    tx.exec_params("UPDATE buying_orders SET failure_reason = $2 WHERE id = $1", order_id, reason);
    release_products(tx, order_id, now);
    return ok_status();
  });
  if (!r.ok()) d.s.log.error("recording a failed payment", {{"error", r.error().message}});
}

HandlerResult create_order(DomainContext& d, RequestContext& ctx) {
  FieldReader r(ctx.body());
  const auto location_id = r.integer("pickup_location_id", 1, INT64_MAX);
  Card card;
  if (const auto* pay = r.object("payment", true)) {
    FieldReader p = r.child("payment", *pay);
    card.number = p.string("card_number", 12, 19);
    card.exp_month = static_cast<int>(p.integer("exp_month", 1, 12));
    card.exp_year = static_cast<int>(p.integer("exp_year", 2000, 2100));
    card.cvc = p.string("cvc", 3, 4);
    if (p.ok() && !std::all_of(card.number.begin(), card.number.end(),
                               [](char c) { return c >= '0' && c <= '9'; })) {
      p.fail("card_number", "must be digits only");
    }
    p.finish();
    r.merge(p);
  }
  RC_FINISH_BODY(r);
  if (!d.payments) {
    ApiError e{503, "payments_unavailable", "no payment provider is configured",
               nlohmann::json::object(), std::nullopt};
    return e;
  }
  const auto customer = ctx.principal().account_id;
  auto created = d.s.db.with_transaction([&](pqxx::work& tx) -> Result<Created> {
    Created c;
    const auto now = d.now_ms();
    if (tx.exec_params("SELECT 1 FROM locations WHERE id = $1", location_id).empty()) {
      c.refused = ApiError::not_found("location " + std::to_string(location_id));
      return c;
    }
    if (!location_has_active_box(tx, location_id)) {
      c.refused = ApiError::conflict("location_unavailable",
                                     "this location has no box in service for pickups");
      return c;
    }
    std::vector<std::int64_t> ids;
    for (const auto& row : tx.exec_params(
             "SELECT product_id FROM cart_items WHERE customer_id = $1 ORDER BY product_id",
             customer)) {
      ids.push_back(row[0].as<std::int64_t>());
    }
    if (ids.empty()) {
      c.refused = ApiError::conflict("cart_empty", "the cart is empty");
      return c;
    }
    // Lock the products in id order (no deadlock between two buyers of overlapping carts) and
    // check each is still for sale: the second buyer of the same product is refused here.
    std::string id_list = "{";
    for (std::size_t i = 0; i < ids.size(); ++i) id_list += (i ? "," : "") + std::to_string(ids[i]);
    id_list += "}";
    const auto rows = tx.exec_params(
        "SELECT id, price_cents, status FROM products WHERE id = ANY($1::bigint[]) ORDER BY id "
        "FOR UPDATE",
        id_list);
    nlohmann::json unavailable = nlohmann::json::array();
    std::int64_t total = 0;
    for (const auto& row : rows) {
      if (row[2].as<std::string>() != "available" || row[1].is_null()) {
        unavailable.push_back(row[0].as<std::int64_t>());
      } else {
        total += row[1].as<std::int64_t>();
      }
    }
    if (!unavailable.empty()) {
      ApiError e = ApiError::conflict("products_unavailable",
                                      "some products in the cart are no longer for sale");
      e.details = {{"product_ids", unavailable}};
      c.refused = e;
      return c;
    }
    c.order_id = tx.exec1("SELECT nextval('order_ids')")[0].as<std::int64_t>();
    tx.exec_params(
        "INSERT INTO buying_orders (id, customer_id, pickup_location_id, state, total_cents, "
        "currency, created_at, updated_at) VALUES ($1, $2, $3, 'payment_pending', $4, $5, "
        "$6::timestamptz, $6::timestamptz)",
        c.order_id, customer, location_id, total, d.config.buying.currency, ts(now));
    int position = 0;
    for (const auto& row : rows) {
      tx.exec_params(
          "INSERT INTO buying_order_items (order_id, position, product_id, price_cents) VALUES "
          "($1, $2, $3, $4)",
          c.order_id, ++position, row[0].as<std::int64_t>(), row[1].as<std::int64_t>());
    }
    tx.exec_params(
        "UPDATE products SET status = 'reserved', updated_at = $2::timestamptz WHERE id = "
        "ANY($1::bigint[])",
        id_list, ts(now));
    tx.exec_params("DELETE FROM cart_items WHERE customer_id = $1", customer);
    c.payment_id = insert_payment(d, tx, c.order_id, "charge", total, now);
    return c;
  });
  if (!created.ok()) return api_error(created.error());
  if (created->refused) return *created->refused;
  const auto order_id = created->order_id;
  const auto payment_id = created->payment_id;

  // The card becomes the provider's payment method; the number is not kept anywhere.
  const auto method = d.payments->tokenize(card, "order-" + std::to_string(order_id) + "-method");
  if (method.kind != PaymentOutcome::Kind::kSucceeded) {
    // Without a payment method nothing can be charged, now or later: the order fails cleanly.
    fail_payment(d, payment_id, order_id,
                 method.kind == PaymentOutcome::Kind::kDeclined
                     ? "card refused: " + method.code
                     : "payment provider unavailable, nothing was charged (" + method.code + ")");
  } else {
    auto stored = d.s.db.with_transaction([&](pqxx::work& tx) -> Status {
      tx.exec_params("UPDATE payments SET method_ref = $2 WHERE id = $1", payment_id,
                     method.provider_ref);
      return ok_status();
    });
    if (!stored.ok()) return api_error(stored.error());
    auto attempted = attempt_payment(d, payment_id, true);
    if (!attempted.ok()) {
      d.s.log.error("payment attempt failed",
                    {{"order", order_id}, {"error", attempted.error().message}});
    }
  }
  return Response::created(buying_order_json(ctx.tx(), order_id, true));
}

HandlerResult cancel_order(DomainContext& d, RequestContext& ctx) {
  const auto id = id_param(ctx, "id");
  struct Done {
    std::optional<std::int64_t> refund_id;
    std::optional<std::string> box;
    std::optional<ApiError> refused;
    bool not_owner = false;
  };
  // The request's own transaction is not used until the end, so the request never holds two
  // pooled connections at once.
  auto done = d.s.db.with_transaction([&](pqxx::work& tx) -> Result<Done> {
    Done out;
    const auto now = d.now_ms();
    const auto o = lock_order(tx, id);
    if (!o) {
      out.refused = ApiError::not_found("order");
      return out;
    }
    if (o->customer_id != ctx.principal().account_id) {
      out.not_owner = true;
      return out;
    }
    auto to = next(o->state, BuyingEvent::kCancel);
    if (!to.ok()) {
      out.refused = transition_error(to.error());
      return out;
    }
    // Internal work that is no longer needed.
    for (const auto& row : tx.exec_params(
             "SELECT id FROM internal_orders WHERE source_kind = 'buying' AND source_id = $1 AND "
             "state IN ('open', 'assigned')",
             id)) {
      auto moved = advance_task(tx, row[0].as<std::int64_t>(), TaskEvent::kCancel, now);
      (void)moved;  // a done packing order stays done
    }
    if (o->box_id && o->compartment) {
      drop_reservation(tx, *o->box_id, *o->compartment, id);
      release_hold(tx, *o->box_id, *o->compartment, id);
      out.box = o->box_id;
    }
    release_products(tx, id, now);
    set_order_state(tx, id, *to, now, "cancelled_at");
    out.refund_id = insert_payment(d, tx, id, "refund", o->total_cents, now);
    return out;
  });
  if (!done.ok()) return api_error(done.error());
  if (done->not_owner) return not_owner(d.s, ctx, "order", id);
  if (done->refused) return *done->refused;
  if (done->box) d.s.messaging.publish_config(*done->box);
  if (done->refund_id && d.payments) {
    auto attempted = attempt_payment(d, *done->refund_id, true);
    if (!attempted.ok()) {
      d.s.log.error("refund attempt failed", {{"order", id}, {"error", attempted.error().message}});
    }
  }
  return Response::ok(buying_order_json(ctx.tx(), id, true));
}

HandlerResult request_return(DomainContext& d, RequestContext& ctx) {
  FieldReader r(ctx.body());
  const auto location_id = r.integer("location_id", 1, INT64_MAX);
  RC_FINISH_BODY(r);
  auto id = owned_order(d, ctx);
  if (!id.ok()) return std::move(id).error();
  auto& tx = ctx.tx();
  const auto now = d.now_ms();
  const auto o = lock_order(tx, *id);
  auto to = next(o->state, BuyingEvent::kRequestReturn);
  if (!to.ok()) return transition_error(to.error());
  const auto window_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(d.config.buying.return_window).count();
  if (o->completed_ms && *o->completed_ms + window_ms < now) {
    return ApiError::conflict("return_window_closed",
                              "returns are accepted for " +
                                  std::to_string(d.config.buying.return_window.count() / 86400) +
                                  " days after pickup");
  }
  if (tx.exec_params("SELECT 1 FROM locations WHERE id = $1", location_id).empty()) {
    return ApiError::not_found("location " + std::to_string(location_id));
  }
  auto size = required_size(order_item_counts(tx, *id));
  if (!size.ok()) size = std::string("XL");
  const auto where =
      allocate_compartment(tx, location_id, fitting_sizes(*size), *id, "return", now);
  if (!where) {
    return ApiError::conflict("no_compartment_available",
                              "no free compartment for this return at this location right now");
  }
  TokenRequest req;
  req.action = TokenAction::kReturn;
  req.box_id = where->box_id;
  req.compartments = {static_cast<std::uint8_t>(where->compartment)};
  req.order_ref = static_cast<std::uint64_t>(*id);
  req.validity = d.config.buying.return_reservation;
  auto token = d.s.tokens.issue(tx, req);
  if (!token.ok()) return api_error(token.error());
  const auto until_ms = token->expires * 1000;
  set_order_state(tx, *id, *to, now);
  tx.exec_params(
      "UPDATE buying_orders SET return_box_id = $2, return_compartment = $3, return_until = "
      "$4::timestamptz, return_token_id = $5, return_token_text = $6 WHERE id = $1",
      *id, where->box_id, where->compartment, ts(until_ms), token->token_id, token->text);
  reserve_at_box(tx, where->box_id, where->compartment, *id, TokenAction::kReturn, until_ms);
  const auto box = where->box_id;
  const auto* s = &d.s;
  ctx.after_commit([s, box] { s->messaging.publish_config(box); });
  return Response::ok(buying_order_json(tx, *id, true));
}

}  // namespace

// ---- payments -----------------------------------------------------------------------------------

Result<bool> attempt_payment(DomainContext& d, std::int64_t payment_id, bool force) {
  struct Claim {
    bool claimed = false;
    bool final = false;
    std::string kind, key, currency;
    std::int64_t amount = 0;
    std::int64_t order_id = 0;
    std::optional<std::string> method_ref, charge_ref;
  };
  const auto lease = d.config.payments.retry_interval;
  RC_ASSIGN_OR_RETURN(auto claim, d.s.db.with_transaction([&](pqxx::work& tx) -> Result<Claim> {
    Claim c;
    const auto now = d.now_ms();
    const auto rows = tx.exec_params(
        "UPDATE payments SET next_attempt_at = $2::timestamptz + $3::bigint * interval '1 "
        "second', updated_at = $2::timestamptz WHERE id = $1 AND state = 'pending' AND ($4 OR "
        "next_attempt_at IS NULL OR next_attempt_at <= $2::timestamptz) RETURNING kind, "
        "idempotency_key, currency, amount_cents, order_id, method_ref",
        payment_id, ts(now), static_cast<std::int64_t>(lease.count()), force);
    if (rows.empty()) {
      c.final =
          tx.exec_params("SELECT 1 FROM payments WHERE id = $1 AND state <> 'pending'", payment_id)
              .size() == 1;
      return c;
    }
    c.claimed = true;
    c.kind = rows[0][0].as<std::string>();
    c.key = rows[0][1].as<std::string>();
    c.currency = rows[0][2].as<std::string>();
    c.amount = rows[0][3].as<std::int64_t>();
    c.order_id = rows[0][4].as<std::int64_t>();
    c.method_ref = opt<std::string>(rows[0][5]);
    if (c.kind == "refund") {
      const auto ch = tx.exec_params(
          "SELECT provider_ref FROM payments WHERE order_id = $1 AND kind = 'charge' AND state = "
          "'succeeded'",
          c.order_id);
      if (!ch.empty()) c.charge_ref = opt<std::string>(ch[0][0]);
    }
    return c;
  }));
  if (!claim.claimed) return claim.final;
  if (!d.payments) return false;

  PaymentOutcome outcome;
  if (claim.kind == "charge") {
    if (!claim.method_ref) {
      // The card was never exchanged for a payment method (a crash in between): nothing can
      // have been charged, and nothing can be charged now.
      outcome.kind = PaymentOutcome::Kind::kDeclined;
      outcome.code = "no_payment_method";
    } else {
      outcome = d.payments->charge(*claim.method_ref, claim.amount, claim.currency, claim.key);
    }
  } else if (!claim.charge_ref) {
    // Nothing was charged (the charge never succeeded): nothing to refund.
    outcome.kind = PaymentOutcome::Kind::kSucceeded;
    outcome.code = "nothing_to_refund";
  } else {
    outcome = d.payments->refund(*claim.charge_ref, claim.amount, claim.key);
  }

  bool final = false;
  std::optional<std::string> publish_box;
  auto recorded = d.s.db.with_transaction([&](pqxx::work& tx) -> Status {
    const auto now = d.now_ms();
    const auto rows =
        tx.exec_params("SELECT state, attempts FROM payments WHERE id = $1 FOR UPDATE", payment_id);
    if (rows.empty() || rows[0][0].as<std::string>() != "pending") {
      final = true;
      return ok_status();
    }
    const auto attempts = rows[0][1].as<int>() + std::max(outcome.attempts, 1);
    switch (outcome.kind) {
      case PaymentOutcome::Kind::kSucceeded: {
        final = true;
        tx.exec_params(
            "UPDATE payments SET state = 'succeeded', provider_ref = $2, attempts = $3, "
            "next_attempt_at = NULL, last_error = NULL, updated_at = $4::timestamptz WHERE id = $1",
            payment_id, outcome.provider_ref, attempts, ts(now));
        if (claim.kind == "charge") {
          const auto o = lock_order(tx, claim.order_id);
          auto to = next(o->state, BuyingEvent::kPaymentSucceeded);
          if (!to.ok()) {
            d.s.log.error("charge succeeded for an order that cannot take it",
                          {{"order", claim.order_id}, {"why", to.error().message()}});
            return ok_status();
          }
          set_order_state(tx, claim.order_id, *to, now, "paid_at");
          create_internal_order(tx, TaskKind::kPacking, std::string("buying"), claim.order_id,
                                std::nullopt, {}, false, std::nullopt, now);
        }
        break;
      }
      case PaymentOutcome::Kind::kDeclined:
        final = true;
        tx.exec_params(
            "UPDATE payments SET state = 'failed', attempts = $2, next_attempt_at = NULL, "
            "last_error = $3, updated_at = $4::timestamptz WHERE id = $1",
            payment_id, attempts, outcome.code, ts(now));
        if (claim.kind == "charge") {
          const auto o = lock_order(tx, claim.order_id);
          auto to = next(o->state, BuyingEvent::kPaymentDeclined);
          if (to.ok()) {
            set_order_state(tx, claim.order_id, *to, now);
            tx.exec_params("UPDATE buying_orders SET failure_reason = $2 WHERE id = $1",
                           claim.order_id, "payment declined: " + outcome.code);
            release_products(tx, claim.order_id, now);
          }
        } else {
          d.s.log.error("refund refused by the provider: needs a person",
                        {{"order", claim.order_id}, {"code", outcome.code}});
        }
        break;
      case PaymentOutcome::Kind::kUnknown: {
        // Retry later with the same key: after one retry interval, then doubling with each
        // round of attempts (capped at one hour).
        const auto base = d.config.payments.retry_interval.count();
        const int rounds = (attempts - 1) / std::max(d.config.payments.max_attempts, 1);
        const auto wait =
            std::min<std::int64_t>(std::max<std::int64_t>(3600, base), base << std::min(rounds, 6));
        tx.exec_params(
            "UPDATE payments SET attempts = $2, last_error = $3, next_attempt_at = "
            "$4::timestamptz + $5::bigint * interval '1 second', updated_at = $4::timestamptz "
            "WHERE id = $1",
            payment_id, attempts, outcome.code + ": " + outcome.message, ts(now), wait);
        break;
      }
    }
    return ok_status();
  });
  RC_TRY(recorded);
  if (publish_box) d.s.messaging.publish_config(*publish_box);
  return final;
}

// ---- box events ---------------------------------------------------------------------------------

Status on_courier_load(DomainContext& d, pqxx::work& tx, const BoxEventContext& ctx,
                       const msg::Event& e) {
  const auto shipping_id = static_cast<std::int64_t>(*e.order_ref);
  const auto rows = tx.exec_params(
      "SELECT source_id, box_id, $2 = ANY(compartments) FROM internal_orders WHERE id = $1 AND "
      "kind = 'shipping' FOR UPDATE",
      shipping_id, e.compartment.value_or(0));
  if (rows.empty() || rows[0][1].as<std::string>() != ctx.box_id || !rows[0][2].as<bool>()) {
    d.s.log.warn("courier load outside a shipping order ignored",
                 {{"box", ctx.box_id}, {"order_ref", shipping_id}, {"seq", e.seq}});
    return ok_status();
  }
  const auto order_id = rows[0][0].as<std::int64_t>();
  const auto now = ctx.now_ms;
  if (auto moved = advance_task(tx, shipping_id, TaskEvent::kComplete, now); !moved.ok()) {
    d.s.log.warn("shipping order not advanced",
                 {{"order", shipping_id}, {"why", moved.error().message()}});
  }
  const auto o = lock_order(tx, order_id);
  auto to = next(o->state, BuyingEvent::kLoad);
  if (!to.ok()) {
    d.s.log.warn("load event ignored", {{"order", order_id}, {"why", to.error().message()}});
    return ok_status();
  }
  set_hold_filled(tx, ctx.box_id, *e.compartment, now);
  // The customer gets at least a day from now to pick up: a late delivery extends the
  // reservation, which the box then learns through its config.
  const auto window_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(d.config.buying.pickup_window).count();
  auto until = o->pickup_until_ms.value_or(now + window_ms);
  if (until - now < std::min<std::int64_t>(window_ms, 24 * 3600 * 1000)) {
    until = now + window_ms;
    reserve_at_box(tx, ctx.box_id, *e.compartment, order_id, TokenAction::kPickup, until);
    mark_config_dirty(tx, ctx.box_id);
  }
  TokenRequest req;
  req.action = TokenAction::kPickup;
  req.box_id = ctx.box_id;
  req.compartments = {static_cast<std::uint8_t>(*e.compartment)};
  req.order_ref = static_cast<std::uint64_t>(order_id);
  req.validity = std::chrono::seconds(std::max<std::int64_t>(60, (until - now) / 1000));
  if (req.validity > d.s.tokens.config().max_validity)
    req.validity = d.s.tokens.config().max_validity;
  RC_ASSIGN_OR_RETURN(auto token, d.s.tokens.issue(tx, req));
  set_order_state(tx, order_id, *to, now);
  tx.exec_params(
      "UPDATE buying_orders SET pickup_token_id = $2, pickup_token_text = $3, pickup_until = "
      "$4::timestamptz WHERE id = $1",
      order_id, token.token_id, token.text, ts(until));
  notify(tx, "customer", o->customer_id, "pickup_ready",
         {{"order_id", order_id},
          {"box_id", ctx.box_id},
          {"compartment", *e.compartment},
          {"until", ts(until)}},
         now, "pickup_ready:" + std::to_string(order_id));
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
  set_order_state(tx, order_id, *to, now, "completed_at");
  drop_reservation(tx, ctx.box_id, *e.compartment, order_id);
  release_hold(tx, ctx.box_id, *e.compartment, order_id);
  tx.exec_params(
      "UPDATE products SET status = 'sold', updated_at = $2::timestamptz WHERE id IN (SELECT "
      "product_id FROM buying_order_items WHERE order_id = $1 AND active)",
      order_id, ts(now));
  award_coins(tx, o->customer_id, purchase_coins(o->total_cents), "purchase", "buying_order",
              order_id, now);
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
  return ok_status();
}

// Return reservations that ran out: the order is completed again. Returns affected boxes.
std::vector<std::string> expire_returns(DomainContext& d, pqxx::work& tx, std::int64_t now,
                                        int* expired) {
  std::vector<std::string> boxes;
  const auto rows = tx.exec_params(
      "SELECT id, return_box_id FROM buying_orders WHERE state = 'return_requested' AND "
      "return_until <= $1::timestamptz ORDER BY return_until LIMIT 100",
      ts(now));
  for (const auto& r : rows) {
    if (tx.exec_params("SELECT 1 FROM boxes WHERE id = $1 FOR UPDATE SKIP LOCKED",
                       r[1].as<std::string>())
            .empty()) {
      continue;
    }
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

// Packing done: the order is packed, a pickup compartment is reserved and a shipping order made.
// Returns the box whose config changes, or an ApiError.
Result<std::string, ApiError> complete_packing(DomainContext& d, pqxx::work& tx,
                                               std::int64_t order_id, std::int64_t now) {
  const auto o = lock_order(tx, order_id);
  if (!o) return ApiError::not_found("order");
  auto to = next(o->state, BuyingEvent::kPack);
  if (!to.ok()) return transition_error(to.error());
  const auto location =
      tx.exec_params1("SELECT pickup_location_id FROM buying_orders WHERE id = $1", order_id)[0]
          .as<std::int64_t>();
  auto size = required_size(order_item_counts(tx, order_id));
  if (!size.ok()) size = std::string("XL");
  const auto where =
      allocate_compartment(tx, location, fitting_sizes(*size), order_id, "pickup", now);
  if (!where) {
    return ApiError::conflict("no_compartment_available",
                              "no free compartment at the pickup location; try again later");
  }
  const auto until =
      now +
      std::chrono::duration_cast<std::chrono::milliseconds>(d.config.buying.pickup_window).count();
  reserve_at_box(tx, where->box_id, where->compartment, order_id, TokenAction::kPickup, until);
  set_order_state(tx, order_id, *to, now);
  tx.exec_params(
      "UPDATE buying_orders SET box_id = $2, compartment = $3, pickup_until = $4::timestamptz "
      "WHERE id = $1",
      order_id, where->box_id, where->compartment, ts(until));
  create_internal_order(tx, TaskKind::kShipping, std::string("buying"), order_id, where->box_id,
                        {where->compartment}, true, std::nullopt, now);
  return where->box_id;
}

// The first courier assignment of a shipping order: the parcel is on its way.
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

// The return's checking is done: refund. Returns the refund payment id, or the TransitionError.
Result<std::int64_t, TransitionError> refund_return(DomainContext& d, pqxx::work& tx,
                                                    std::int64_t order_id, std::int64_t now) {
  const auto o = lock_order(tx, order_id);
  auto to = next(o->state, BuyingEvent::kRefund);
  if (!to.ok()) return std::move(to).error();
  set_order_state(tx, order_id, *to, now);
  return insert_payment(d, tx, order_id, "refund", o->total_cents, now);
}

void register_buying_routes(Router& router, const std::shared_ptr<DomainContext>& dp) {
  using L = Listener;
  using M = HttpMethod;
  auto d = dp;

  router.add(route(L::kPublic, M::kGet, "/v1/products", Access::anyone(), "product.browse", false,
                   BodyKind::kNone,
                   "Browse listed products: filter by category, size, price range; search; page",
                   [](RequestContext& ctx) { return list_products(ctx); }));

  router.add(route(
      L::kPublic, M::kGet, "/v1/products/{id}", Access::anyone(), "product.view", false,
      BodyKind::kNone, "One listed product", [](RequestContext& ctx) -> HandlerResult {
        static const std::string kSql = "SELECT " + kProductColumns +
                                        " FROM products WHERE id = $1 AND status = 'available' AND "
                                        "price_cents IS NOT NULL";
        const auto rows = exec_hot(ctx.read(), "product_listed", kSql, id_param(ctx, "id"));
        if (rows.empty()) return ApiError::not_found("product");
        return Response::ok(product_json(rows[0]));
      }));

  router.add(route(L::kPublic, M::kGet, "/v1/cart", Access::customer(), "cart.read", false,
                   BodyKind::kNone, "The customer's cart",
                   [](RequestContext& ctx) -> HandlerResult {
                     return Response::ok(cart_json(ctx.read(), ctx.principal().account_id));
                   }));

  router.add(route(L::kPublic, M::kPost, "/v1/cart/items", Access::customer(), "cart.add", false,
                   BodyKind::kRequired, "Put a listed product into the cart",
                   [d](RequestContext& ctx) -> HandlerResult {
                     FieldReader r(ctx.body());
                     const auto product = r.integer("product_id", 1, INT64_MAX);
                     RC_FINISH_BODY(r);
                     const auto rows =
                         exec_hot(ctx.autocommit(), "cart_add", cart_add_sql(),
                                  ctx.principal().account_id, product, ts(d->now_ms()));
                     if (!cart_write_found(rows)) return ApiError::not_found("product");
                     return Response::created(cart_json(rows));
                   }));

  router.add(route(L::kPublic, M::kDelete, "/v1/cart/items/{id}", Access::customer(), "cart.remove",
                   false, BodyKind::kNone, "Take a product out of the cart",
                   [](RequestContext& ctx) -> HandlerResult {
                     const auto rows = exec_hot(ctx.autocommit(), "cart_remove", cart_remove_sql(),
                                                ctx.principal().account_id, id_param(ctx, "id"));
                     if (!cart_write_found(rows)) return ApiError::not_found("cart item");
                     return Response::ok(cart_json(rows));
                   }));

  router.add(route(L::kPublic, M::kPost, "/v1/orders", Access::customer(), "order.create", false,
                   BodyKind::kRequired,
                   "Buy the cart: reserves the products and pays through the provider",
                   [d](RequestContext& ctx) { return create_order(*d, ctx); }));

  router.add(route(
      L::kPublic, M::kGet, "/v1/orders", Access::customer(), "order.list", false, BodyKind::kNone,
      "The customer's buying orders, newest first", [](RequestContext& ctx) -> HandlerResult {
        nlohmann::json items = nlohmann::json::array();
        for (const auto& row :
             ctx.tx().exec_params("SELECT id FROM buying_orders WHERE customer_id = $1 ORDER BY id "
                                  "DESC LIMIT 200",
                                  ctx.principal().account_id)) {
          items.push_back(buying_order_json(ctx.tx(), row[0].as<std::int64_t>(), true));
        }
        return Response::ok({{"items", items}});
      }));

  router.add(route(L::kPublic, M::kGet, "/v1/orders/{id}", Access::customer(), "order.read", false,
                   BodyKind::kNone,
                   "One buying order (own); includes the pickup token once ready for pickup",
                   [d](RequestContext& ctx) -> HandlerResult {
                     auto id = owned_order(*d, ctx);
                     if (!id.ok()) return std::move(id).error();
                     return Response::ok(buying_order_json(ctx.tx(), *id, true));
                   }));

  router.add(route(L::kPublic, M::kPost, "/v1/orders/{id}/cancel", Access::customer(),
                   "order.cancel", false, BodyKind::kNone,
                   "Cancel before shipping; a paid order is refunded",
                   [d](RequestContext& ctx) { return cancel_order(*d, ctx); }));

  router.add(route(L::kPublic, M::kPost, "/v1/orders/{id}/return", Access::customer(),
                   "order.return", false, BodyKind::kRequired,
                   "Return a picked-up order through a box: reserves a compartment, issues a "
                   "return token",
                   [d](RequestContext& ctx) { return request_return(*d, ctx); }));

  router.add(route(L::kPublic, M::kGet, "/v1/orders/{id}/qr.png", Access::customer(), "order.qr",
                   false, BodyKind::kNone,
                   "The order's current token (pickup or return) as a QR code PNG",
                   [d](RequestContext& ctx) -> HandlerResult {
                     auto id = owned_order(*d, ctx);
                     if (!id.ok()) return std::move(id).error();
                     const auto rows = ctx.tx().exec_params(
                         "SELECT COALESCE(pickup_token_text, return_token_text) FROM "
                         "buying_orders WHERE id = $1",
                         *id);
                     if (rows[0][0].is_null()) {
                       return ApiError::conflict("no_token", "the order has no usable token now");
                     }
                     auto png = render_qr_png(rows[0][0].as<std::string>());
                     if (!png.ok()) return api_error(png.error());
                     return Response::text(200, std::move(png).value(), "image/png");
                   }));
}

}  // namespace reclothes::controller::domain
