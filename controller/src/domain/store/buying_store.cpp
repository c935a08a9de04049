// The buying store: catalogue, cart and the customer's buying orders (see buying_store.h); the
// order row's building blocks shared with buying_events.cpp and payment_store.cpp.
#include "buying_store.h"

#include "buying_internal.h"

namespace reclothes::controller::domain {

// ---- the order row ------------------------------------------------------------------------------

namespace buying_internal {

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
                     const char* stamp_column) {
  std::string sql = "UPDATE buying_orders SET state = $2, updated_at = $3::timestamptz";
  if (stamp_column) sql += std::string(", ") + stamp_column + " = $3::timestamptz";
  // Token texts are shown only in the state that uses them.
  if (state != BuyingState::kReadyForPickup) sql += ", pickup_token_text = NULL";
  if (state != BuyingState::kReturnRequested) sql += ", return_token_text = NULL";
  tx.exec_params(sql + " WHERE id = $1", id, std::string(to_string(state)), ts(now));
}

void release_products(pqxx::work& tx, std::int64_t order_id, std::int64_t now) {
  tx.exec_params(
      "UPDATE products SET status = 'available', updated_at = $2::timestamptz WHERE status = "
      "'reserved' AND id IN (SELECT product_id FROM buying_order_items WHERE order_id = $1 AND "
      "active)",
      order_id, ts(now));
  tx.exec_params("UPDATE buying_order_items SET active = false WHERE order_id = $1", order_id);
}

std::vector<std::string> order_fitting_sizes(pqxx::work& tx, std::int64_t order_id) {
  std::vector<ItemCount> items;
  for (const auto& r : tx.exec_params(
           "SELECT p.category FROM buying_order_items i JOIN products p ON p.id = i.product_id "
           "WHERE i.order_id = $1",
           order_id)) {
    const auto cat = r[0].as<std::string>();
    // Staff may have typed a category the size rule does not know: count it as a top.
    items.push_back({find_category(cat) ? cat : std::string("tops"), 1});
  }
  auto size = required_size(items);
  return fitting_sizes(size.ok() ? *size : std::string("XL"));
}

std::int64_t refundable_cents(pqxx::work& tx, std::int64_t order_id) {
  return tx
      .exec_params1(
          "SELECT COALESCE(sum(amount_cents) FILTER (WHERE kind = 'charge' AND state = "
          "'succeeded'), 0) - COALESCE(sum(amount_cents) FILTER (WHERE kind = 'refund' AND state "
          "<> 'failed'), 0) FROM payments WHERE order_id = $1",
          order_id)[0]
      .as<std::int64_t>();
}

// A donor return's order (a donated item on its way back to its donor, nothing paid) is neither
// cancelled nor returned by the customer: 409 donor_return_order.
StoreStatus refuse_donor_return_order(pqxx::work& tx, std::int64_t order_id, const char* what) {
  if (!buying_internal::is_donor_return_order(tx, order_id)) return store_ok();
  return DomainError::conflict("donor_return_order",
                               std::string("an order that brings a donated item back is not ") +
                                   what + "; ask customer service",
                               {{"order_id", order_id}});
}

StoreResult<OrderCancelled> cancel_in_transaction(const DomainContext& d, pqxx::work& tx,
                                                  std::int64_t order_id,
                                                  std::optional<std::int64_t> customer_id,
                                                  std::int64_t now) {
  const auto o = lock_order(tx, order_id);
  if (!o) return DomainError::not_found("order");
  if (customer_id && o->customer_id != *customer_id) {
    return DomainError::not_owner("order", order_id);
  }
  auto to = next(o->state, BuyingEvent::kCancel);
  if (!to.ok()) return DomainError::transition(to.error());
  // The donor does not cancel a donor return; customer service may (nothing was paid).
  if (customer_id) {
    RC_STORE_TRY(refuse_donor_return_order(tx, order_id, "cancelled"));
  }
  // Internal work that is no longer needed.
  for (const auto& row : tx.exec_params(
           "SELECT id FROM internal_orders WHERE source_kind = 'buying' AND source_id = $1 AND "
           "state IN ('open', 'assigned')",
           order_id)) {
    auto moved = advance_task(tx, row[0].as<std::int64_t>(), TaskEvent::kCancel, now);
    (void)moved;  // a done packing order stays done
  }
  OrderCancelled out;
  if (o->box_id && o->compartment) {
    drop_reservation(tx, *o->box_id, *o->compartment, order_id);
    release_hold(tx, *o->box_id, *o->compartment, order_id);
    out.freed_box = o->box_id;
  }
  release_products(tx, order_id, now);
  set_order_state(tx, order_id, *to, now, "cancelled_at");
  // Customer service may have refunded part of it already: the rest goes back.
  out.refund_cents = refundable_cents(tx, order_id);
  nlohmann::json payload = {{"order_id", order_id}};
  if (out.refund_cents > 0) {
    out.refund_payment_id = insert_payment(d, tx, order_id, "refund", out.refund_cents, now);
    payload["amount_cents"] = out.refund_cents;
    payload["currency"] = d.config.buying.currency;
  }
  notify(tx, "customer", o->customer_id, "order_cancelled", payload, now,
         "order_cancelled:" + std::to_string(order_id));
  return out;
}

}  // namespace buying_internal

namespace {

using buying_internal::lock_order;
using buying_internal::release_products;
using buying_internal::set_order_state;

// Runs fn(tx) -> StoreResult<T> in a transaction of its own: committed when it returns a value,
// rolled back when it refuses (the refusal is returned as it is).
template <typename T, typename F>
StoreResult<T> in_buying_transaction(Database& db, F&& fn) {
  std::optional<DomainError> refused;
  auto r = db.with_transaction([&](pqxx::work& tx) -> Result<T> {
    auto out = fn(tx);
    if (out.ok()) return std::move(out).value();
    refused = std::move(out).error();
    return make_error(refused->kind, refused->message);
  });
  if (refused) return std::move(*refused);
  if (!r.ok()) return DomainError::from(r.error());
  return std::move(r).value();
}

bool buying_location_exists(pqxx::work& tx, std::int64_t location_id) {
  return !tx.exec_params("SELECT 1 FROM locations WHERE id = $1", location_id).empty();
}

StoreStatus check_order_owner(pqxx::work& tx, std::int64_t order_id, std::int64_t customer_id) {
  const auto rows = tx.exec_params("SELECT customer_id FROM buying_orders WHERE id = $1", order_id);
  if (rows.empty()) return DomainError::not_found("order");
  if (rows[0][0].as<std::int64_t>() != customer_id) {
    return DomainError::not_owner("order", order_id);
  }
  return store_ok();
}

// ---- catalogue and cart -------------------------------------------------------------------------

const char* product_sort_sql(ProductSort sort) {
  switch (sort) {
    case ProductSort::kPriceAsc:
      return "price_cents ASC, id";
    case ProductSort::kPriceDesc:
      return "price_cents DESC, id";
    case ProductSort::kNewest:
      break;
  }
  return "id DESC";
}

// The WHERE clause of a browse request and its parameters ($1...).
struct ProductFilter {
  std::string where = "status = 'available' AND price_cents IS NOT NULL";
  std::vector<std::string> params;

  // clause has one '?' for the value.
  void add(const std::string& clause, std::string value) {
    params.push_back(std::move(value));
    std::string c = clause;
    c.replace(c.find('?'), 1, "$" + std::to_string(params.size()));
    where += " AND " + c;
  }
};

ProductFilter product_filter(const ProductQuery& q) {
  ProductFilter f;
  if (q.category) f.add("category = ?", *q.category);
  if (q.size) f.add("size = ?", *q.size);
  if (q.text) {
    f.add("(strpos(lower(title), lower(?)) > 0 OR strpos(lower(description), lower($" +
              std::to_string(f.params.size() + 1) + ")) > 0)",
          *q.text);
  }
  if (q.min_price) f.add("price_cents >= ?::bigint", std::to_string(*q.min_price));
  if (q.max_price) f.add("price_cents <= ?::bigint", std::to_string(*q.max_price));
  return f;
}

// The cart from rows of kProductColumns (rows whose id is NULL are skipped: the write statements
// below return one such row for an empty cart).
nlohmann::json cart_from_rows(const pqxx::result& rows) {
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

// The cart after a write, or not_found `what` when the write found nothing to do it to.
StoreResult<nlohmann::json> cart_after_write(const pqxx::result& rows, const char* what) {
  if (rows.empty() || rows[0][10].as<std::int64_t>() == 0) return DomainError::not_found(what);
  return cart_from_rows(rows);
}

// ---- creating an order --------------------------------------------------------------------------

struct ReservedCart {
  std::int64_t order_id = 0;
  std::int64_t payment_id = 0;
};

std::string cart_id_array(pqxx::work& tx, std::int64_t customer_id) {
  std::string out;
  for (const auto& row : tx.exec_params(
           "SELECT product_id FROM cart_items WHERE customer_id = $1 ORDER BY product_id",
           customer_id)) {
    out += (out.empty() ? "" : ",") + row[0].as<std::string>();
  }
  return out.empty() ? out : "{" + out + "}";
}

// Inserts the order and its items (the rows of id, price_cents) and takes the products off sale.
std::int64_t insert_buying_order(const DomainContext& d, pqxx::work& tx, const NewOrder& order,
                                 const pqxx::result& products, const std::string& id_array,
                                 std::int64_t total, std::int64_t now) {
  const auto id = tx.exec1("SELECT nextval('order_ids')")[0].as<std::int64_t>();
  tx.exec_params(
      "INSERT INTO buying_orders (id, customer_id, pickup_location_id, state, total_cents, "
      "currency, created_at, updated_at) VALUES ($1, $2, $3, 'payment_pending', $4, $5, "
      "$6::timestamptz, $6::timestamptz)",
      id, order.customer_id, order.pickup_location_id, total, d.config.buying.currency, ts(now));
  int position = 0;
  for (const auto& row : products) {
    tx.exec_params(
        "INSERT INTO buying_order_items (order_id, position, product_id, price_cents) VALUES "
        "($1, $2, $3, $4)",
        id, ++position, row[0].as<std::int64_t>(), row[1].as<std::int64_t>());
  }
  tx.exec_params(
      "UPDATE products SET status = 'reserved', updated_at = $2::timestamptz WHERE id = "
      "ANY($1::bigint[])",
      id_array, ts(now));
  tx.exec_params("DELETE FROM cart_items WHERE customer_id = $1", order.customer_id);
  return id;
}

// The cart becomes an order with a pending charge, or the reason why not.
StoreResult<ReservedCart> reserve_cart(const DomainContext& d, pqxx::work& tx,
                                       const NewOrder& order, std::int64_t now) {
  if (!buying_location_exists(tx, order.pickup_location_id)) {
    return DomainError::not_found("location " + std::to_string(order.pickup_location_id));
  }
  if (!location_has_active_box(tx, order.pickup_location_id)) {
    return DomainError::conflict("location_unavailable",
                                 "this location has no box in service for pickups");
  }
  const auto ids = cart_id_array(tx, order.customer_id);
  if (ids.empty()) return DomainError::conflict("cart_empty", "the cart is empty");
  // Lock the products in id order (no deadlock between two buyers of overlapping carts) and
  // check each is still for sale: the second buyer of the same product is refused here.
  const auto rows = tx.exec_params(
      "SELECT id, price_cents, status FROM products WHERE id = ANY($1::bigint[]) ORDER BY id "
      "FOR UPDATE",
      ids);
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
    return DomainError::conflict("products_unavailable",
                                 "some products in the cart are no longer for sale",
                                 {{"product_ids", unavailable}});
  }
  ReservedCart c;
  c.order_id = insert_buying_order(d, tx, order, rows, ids, total, now);
  c.payment_id = buying_internal::insert_payment(d, tx, c.order_id, "charge", total, now);
  return c;
}

// ---- cancelling, returning ----------------------------------------------------------------------

StoreStatus check_return_window(const DomainContext& d, const buying_internal::OrderRow& o,
                                std::int64_t now) {
  const auto window = d.config.buying.return_window;
  const auto window_ms = std::chrono::duration_cast<std::chrono::milliseconds>(window).count();
  if (o.completed_ms && *o.completed_ms + window_ms < now) {
    return DomainError::conflict("return_window_closed",
                                 "returns are accepted for " +
                                     std::to_string(window.count() / 86400) + " days after pickup");
  }
  return store_ok();
}

Result<IssuedToken> issue_return_token(DomainContext& d, pqxx::work& tx, std::int64_t order_id,
                                       const Allocation& where) {
  TokenRequest req;
  req.action = TokenAction::kReturn;
  req.box_id = where.box_id;
  req.compartments = {static_cast<std::uint8_t>(where.compartment)};
  req.order_ref = static_cast<std::uint64_t>(order_id);
  req.validity = d.config.buying.return_reservation;
  return d.s.tokens.issue(tx, req);
}

}  // namespace

// ---- catalogue and cart -------------------------------------------------------------------------

StoreResult<ProductPage> list_products(pqxx::transaction_base& tx, const ProductQuery& q) {
  return guarded([&]() -> StoreResult<ProductPage> {
    const auto f = product_filter(q);
    const auto p = pqxx::prepare::make_dynamic_params(f.params);
    ProductPage page;
    page.total =
        tx.exec_params1("SELECT count(*) FROM products WHERE " + f.where, p)[0].as<std::int64_t>();
    for (const auto& row :
         tx.exec_params("SELECT " + kProductColumns + " FROM products WHERE " + f.where +
                            " ORDER BY " + product_sort_sql(q.sort) + " LIMIT " +
                            std::to_string(q.limit) + " OFFSET " + std::to_string(q.offset),
                        p)) {
      page.items.push_back(product_json(row));
    }
    return page;
  });
}

StoreResult<nlohmann::json> listed_product(pqxx::transaction_base& tx, std::int64_t product_id) {
  return guarded([&]() -> StoreResult<nlohmann::json> {
    static const std::string kSql = "SELECT " + kProductColumns +
                                    " FROM products WHERE id = $1 AND status = 'available' AND "
                                    "price_cents IS NOT NULL";
    const auto rows = exec_hot(tx, "product_listed", kSql, product_id);
    if (rows.empty()) return DomainError::not_found("product");
    return product_json(rows[0]);
  });
}

StoreResult<nlohmann::json> read_cart(pqxx::transaction_base& tx, std::int64_t customer_id) {
  return guarded([&]() -> StoreResult<nlohmann::json> {
    static const std::string kSql =
        "SELECT " + kProductColumns +
        " FROM products WHERE id IN (SELECT product_id FROM cart_items WHERE customer_id = $1) "
        "ORDER BY id";
    return cart_from_rows(exec_hot(tx, "cart_read", kSql, customer_id));
  });
}

StoreResult<nlohmann::json> add_to_cart(pqxx::transaction_base& tx, std::int64_t customer_id,
                                        std::int64_t product_id, std::int64_t now_ms) {
  return guarded([&]() -> StoreResult<nlohmann::json> {
    return cart_after_write(
        exec_hot(tx, "cart_add", cart_add_sql(), customer_id, product_id, ts(now_ms)), "product");
  });
}

StoreResult<nlohmann::json> remove_from_cart(pqxx::transaction_base& tx, std::int64_t customer_id,
                                             std::int64_t product_id) {
  return guarded([&]() -> StoreResult<nlohmann::json> {
    return cart_after_write(exec_hot(tx, "cart_remove", cart_remove_sql(), customer_id, product_id),
                            "cart item");
  });
}

// ---- orders -------------------------------------------------------------------------------------

StoreResult<nlohmann::json> order_view(pqxx::work& tx, std::int64_t order_id) {
  return guarded(
      [&]() -> StoreResult<nlohmann::json> { return buying_order_json(tx, order_id, true); });
}

StoreResult<nlohmann::json> list_orders(pqxx::work& tx, std::int64_t customer_id) {
  return guarded([&]() -> StoreResult<nlohmann::json> {
    nlohmann::json items = nlohmann::json::array();
    for (const auto& row : tx.exec_params(
             "SELECT id FROM buying_orders WHERE customer_id = $1 ORDER BY id DESC LIMIT 200",
             customer_id)) {
      items.push_back(buying_order_json(tx, row[0].as<std::int64_t>(), true));
    }
    return items;
  });
}

StoreResult<nlohmann::json> read_order(pqxx::work& tx, std::int64_t order_id,
                                       std::int64_t customer_id) {
  return guarded([&]() -> StoreResult<nlohmann::json> {
    RC_STORE_TRY(check_order_owner(tx, order_id, customer_id));
    return buying_order_json(tx, order_id, true);
  });
}

StoreResult<std::string> order_token_text(pqxx::work& tx, std::int64_t order_id,
                                          std::int64_t customer_id) {
  return guarded([&]() -> StoreResult<std::string> {
    RC_STORE_TRY(check_order_owner(tx, order_id, customer_id));
    const auto rows = tx.exec_params(
        "SELECT COALESCE(pickup_token_text, return_token_text) FROM buying_orders WHERE id = $1",
        order_id);
    if (rows[0][0].is_null()) {
      return DomainError::conflict("no_token", "the order has no usable token now");
    }
    return rows[0][0].as<std::string>();
  });
}

StoreResult<std::int64_t> create_order(DomainContext& d, const NewOrder& order) {
  return guarded([&]() -> StoreResult<std::int64_t> {
    if (!d.payments) {
      return DomainError{ErrorCode::kUnavailable, "payments_unavailable",
                         "no payment provider is configured", nlohmann::json::object(), ""};
    }
    auto reserved = in_buying_transaction<ReservedCart>(
        d.s.db, [&](pqxx::work& tx) { return reserve_cart(d, tx, order, d.now_ms()); });
    if (!reserved.ok()) return std::move(reserved).error();
    RC_STORE_TRY(
        buying_internal::pay_with_card(d, reserved->order_id, reserved->payment_id, order.card));
    return reserved->order_id;
  });
}

StoreResult<OrderCancelled> cancel_order(DomainContext& d, std::int64_t order_id,
                                         std::int64_t customer_id) {
  return guarded([&]() -> StoreResult<OrderCancelled> {
    auto done = in_buying_transaction<OrderCancelled>(d.s.db, [&](pqxx::work& tx) {
      return buying_internal::cancel_in_transaction(d, tx, order_id, customer_id, d.now_ms());
    });
    if (!done.ok()) return done;
    if (done->freed_box) d.s.messaging.publish_config(*done->freed_box);
    if (d.payments && done->refund_payment_id != 0) {
      buying_internal::attempt_now(d, done->refund_payment_id, order_id, "refund");
    }
    return done;
  });
}

StoreResult<ReturnReserved> request_return(DomainContext& d, pqxx::work& tx,
                                           const ReturnRequest& request, std::int64_t now_ms) {
  return guarded([&]() -> StoreResult<ReturnReserved> {
    const auto id = request.order_id;
    RC_STORE_TRY(check_order_owner(tx, id, request.customer_id));
    const auto o = lock_order(tx, id);
    auto to = next(o->state, BuyingEvent::kRequestReturn);
    if (!to.ok()) return DomainError::transition(to.error());
    RC_STORE_TRY(buying_internal::refuse_donor_return_order(tx, id, "returned"));
    RC_STORE_TRY(check_return_window(d, *o, now_ms));
    if (!buying_location_exists(tx, request.location_id)) {
      return DomainError::not_found("location " + std::to_string(request.location_id));
    }
    const auto where =
        allocate_compartment(tx, request.location_id, buying_internal::order_fitting_sizes(tx, id),
                             id, "return", now_ms);
    if (!where) {
      return DomainError::conflict(
          "no_compartment_available",
          "no free compartment for this return at this location right now");
    }
    auto token = issue_return_token(d, tx, id, *where);
    if (!token.ok()) return DomainError::from(token.error());
    const auto until_ms = token->expires * 1000;
    set_order_state(tx, id, *to, now_ms);
    tx.exec_params(
        "UPDATE buying_orders SET return_box_id = $2, return_compartment = $3, return_until = "
        "$4::timestamptz, return_token_id = $5, return_token_text = $6 WHERE id = $1",
        id, where->box_id, where->compartment, ts(until_ms), token->token_id, token->text);
    reserve_at_box(tx, where->box_id, where->compartment, id, TokenAction::kReturn, until_ms);
    return ReturnReserved{where->box_id, buying_order_json(tx, id, true)};
  });
}

}  // namespace reclothes::controller::domain
