// Management on the internal listener (products and prices, customers with masking, GDPR
// export and erase, coupons, coin adjustments) and the customer's own coins, coupons and export.
#include "common.h"

namespace reclothes::controller::domain {
namespace {

// ---- products -----------------------------------------------------------------------------------

nlohmann::json price_history_json(pqxx::work& tx, std::int64_t product_id) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : tx.exec_params("SELECT old_price_cents, new_price_cents, changed_by, " +
                                          ms_of("changed_at") +
                                          " FROM price_history WHERE product_id = $1 ORDER BY id",
                                      product_id)) {
    out.push_back({{"old_price_cents", nullable_int(r[0])},
                   {"new_price_cents", r[1].as<std::int64_t>()},
                   {"changed_by", r[2].as<std::int64_t>()},
                   {"changed_at", ts(r[3].as<std::int64_t>())}});
  }
  return out;
}

std::optional<nlohmann::json> product_with_history(pqxx::work& tx, std::int64_t id) {
  const auto rows =
      tx.exec_params("SELECT " + kProductColumns + " FROM products WHERE id = $1", id);
  if (rows.empty()) return std::nullopt;
  auto j = product_json(rows[0]);
  j["price_history"] = price_history_json(tx, id);
  return j;
}

HandlerResult list_products_internal(RequestContext& ctx) {
  std::string where = "true";
  std::vector<std::string> params;
  if (auto s = ctx.query("status")) {
    if (*s != "available" && *s != "reserved" && *s != "sold" && *s != "withdrawn") {
      return invalid_query("status", "must be available, reserved, sold or withdrawn");
    }
    params.push_back(*s);
    where += " AND status = $" + std::to_string(params.size());
  }
  if (ctx.query("unpriced") == std::optional<std::string>("true"))
    where += " AND price_cents IS NULL";
  if (auto q = ctx.query("q")) {
    params.push_back(*q);
    where += " AND strpos(lower(title), lower($" + std::to_string(params.size()) + ")) > 0";
  }
  auto limit = query_int(ctx, "limit", 1, 200);
  if (!limit.ok()) return std::move(limit).error();
  auto offset = query_int(ctx, "offset", 0, 1000000);
  if (!offset.ok()) return std::move(offset).error();
  auto& tx = ctx.tx();
  const auto p = pqxx::prepare::make_dynamic_params(params);
  const auto total =
      tx.exec_params1("SELECT count(*) FROM products WHERE " + where, p)[0].as<std::int64_t>();
  nlohmann::json items = nlohmann::json::array();
  for (const auto& row :
       tx.exec_params("SELECT " + kProductColumns + " FROM products WHERE " + where +
                          " ORDER BY id DESC LIMIT " + std::to_string(limit->value_or(50)) +
                          " OFFSET " + std::to_string(offset->value_or(0)),
                      p)) {
    items.push_back(product_json(row));
  }
  return Response::ok({{"items", items}, {"total", total}});
}

HandlerResult create_product(DomainContext& d, RequestContext& ctx) {
  FieldReader r(ctx.body());
  const auto title = r.string("title", 1, 200);
  const auto description = r.optional_string("description", 0, 2000);
  const auto category = r.string("category", 1, 32);
  const auto size = r.optional_string("size", 0, 32);
  const auto condition = r.optional_string("condition", 0, 64);
  if (ctx.body().contains("price_cents")) {
    r.fail("price_cents",
           "prices are set with PUT /internal/v1/products/{id}/price (prices.write)");
  }
  RC_FINISH_BODY(r);
  auto& tx = ctx.tx();
  const auto now = d.now_ms();
  const auto id = tx.exec_params1(
                        "INSERT INTO products (title, description, category, size, condition, "
                        "status, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, "
                        "'available', $6, $7::timestamptz, $7::timestamptz) RETURNING id",
                        title, description.value_or(""), category, size.value_or(""),
                        condition.value_or(""), ctx.principal().account_id, ts(now))[0]
                      .as<std::int64_t>();
  auto j = *product_with_history(tx, id);
  ctx.set_audit({"product", std::to_string(id), nullptr, j, ""});
  return Response::created(j);
}

HandlerResult update_product(DomainContext& d, RequestContext& ctx) {
  FieldReader r(ctx.body());
  const auto title = r.optional_string("title", 1, 200);
  const auto description = r.optional_string("description", 0, 2000);
  const auto category = r.optional_string("category", 1, 32);
  const auto size = r.optional_string("size", 0, 32);
  const auto condition = r.optional_string("condition", 0, 64);
  const auto status = r.optional_string("status", 1, 16);
  if (r.ok() && status && *status != "available" && *status != "withdrawn") {
    r.fail("status", "must be available or withdrawn");
  }
  if (ctx.body().contains("price_cents")) {
    r.fail("price_cents",
           "prices are set with PUT /internal/v1/products/{id}/price (prices.write)");
  }
  RC_FINISH_BODY(r);
  auto& tx = ctx.tx();
  const auto id = id_param(ctx, "id");
  ctx.set_audit({"product", std::to_string(id), nullptr, nullptr, ""});
  const auto cur = tx.exec_params("SELECT status FROM products WHERE id = $1 FOR UPDATE", id);
  if (cur.empty()) return ApiError::not_found("product");
  const auto before = *product_with_history(tx, id);
  if (status && cur[0][0].as<std::string>() != "available" &&
      cur[0][0].as<std::string>() != "withdrawn") {
    return ApiError::conflict("product_in_sale",
                              "a reserved or sold product cannot be listed or withdrawn");
  }
  tx.exec_params(
      "UPDATE products SET title = COALESCE($2, title), description = COALESCE($3, description), "
      "category = COALESCE($4, category), size = COALESCE($5, size), condition = COALESCE($6, "
      "condition), status = COALESCE($7, status), updated_at = $8::timestamptz WHERE id = $1",
      id, title, description, category, size, condition, status, ts(d.now_ms()));
  const auto after = *product_with_history(tx, id);
  ctx.set_audit({"product", std::to_string(id), before, after, ""});
  return Response::ok(after);
}

HandlerResult set_price(DomainContext& d, RequestContext& ctx) {
  FieldReader r(ctx.body());
  const auto price = r.integer("price_cents", 1, 100'000'000);
  RC_FINISH_BODY(r);
  auto& tx = ctx.tx();
  const auto id = id_param(ctx, "id");
  ctx.set_audit({"product", std::to_string(id), nullptr, nullptr, ""});
  const auto cur =
      tx.exec_params("SELECT status, price_cents FROM products WHERE id = $1 FOR UPDATE", id);
  if (cur.empty()) return ApiError::not_found("product");
  if (cur[0][0].as<std::string>() == "sold") {
    return ApiError::conflict("product_sold", "a sold product keeps the price it was sold at");
  }
  const auto old_price = opt<std::int64_t>(cur[0][1]);
  const auto now = d.now_ms();
  tx.exec_params("UPDATE products SET price_cents = $2, updated_at = $3::timestamptz WHERE id = $1",
                 id, price, ts(now));
  tx.exec_params(
      "INSERT INTO price_history (product_id, old_price_cents, new_price_cents, changed_by, "
      "changed_at) VALUES ($1, $2, $3, $4, $5::timestamptz)",
      id, old_price, price, ctx.principal().account_id, ts(now));
  ctx.set_audit({"product",
                 std::to_string(id),
                 {{"price_cents", old_price ? nlohmann::json(*old_price) : nlohmann::json()}},
                 {{"price_cents", price}},
                 ""});
  return Response::ok(*product_with_history(tx, id));
}

// ---- customers ----------------------------------------------------------------------------------

const std::string kCustomerColumns =
    "id, email, display_name, phone, status, " + ms_of("created_at") + ", " + ms_of("erased_at");

nlohmann::json customer_admin_json(const pqxx::row& r, bool full) {
  const auto email = r[1].as<std::string>();
  const auto name = r[2].as<std::string>();
  const auto phone = opt<std::string>(r[3]);
  return {{"id", r[0].as<std::int64_t>()},
          {"email", full ? email : mask_email(email)},
          {"display_name", full ? name : mask_name(name)},
          {"phone", phone ? nlohmann::json(full ? *phone : mask_phone(*phone)) : nlohmann::json()},
          {"status", r[4].as<std::string>()},
          {"created_at", ts(r[5].as<std::int64_t>())},
          {"erased_at", nullable_ts(r[6])},
          {"masked", !full}};
}

nlohmann::json coins_json(pqxx::work& tx, std::int64_t customer_id) {
  nlohmann::json records = nlohmann::json::array();
  std::int64_t sum = 0;
  for (const auto& r :
       tx.exec_params("SELECT id, delta, reason, ref_kind, ref_id, " + ms_of("created_at") +
                          " FROM coin_ledger WHERE customer_id = $1 ORDER BY id",
                      customer_id)) {
    sum += r[1].as<std::int64_t>();
    records.push_back({{"id", r[0].as<std::int64_t>()},
                       {"delta", r[1].as<std::int64_t>()},
                       {"reason", r[2].as<std::string>()},
                       {"ref_kind", nullable_str(r[3])},
                       {"ref_id", nullable_int(r[4])},
                       {"created_at", ts(r[5].as<std::int64_t>())}});
  }
  return {{"balance", sum}, {"records", records}};
}

nlohmann::json coupon_json(const pqxx::row& r) {
  return {{"id", r[0].as<std::int64_t>()},
          {"code", r[1].as<std::string>()},
          {"customer_id", nullable_int(r[2])},
          {"percent_off", nullable_int(r[3])},
          {"amount_cents", nullable_int(r[4])},
          {"description", r[5].as<std::string>()},
          {"source", r[6].as<std::string>()},
          {"issued_at", ts(r[7].as<std::int64_t>())},
          {"expires_at", ts(r[8].as<std::int64_t>())},
          {"redeemed_at", nullable_ts(r[9])},
          {"redemption", r[10].is_null() ? nlohmann::json()
                                         : nlohmann::json{{"redeemed_by", nullable_int(r[10])},
                                                          {"place", nullable_str(r[11])}}}};
}

const std::string kCouponSelect =
    "SELECT c.id, c.code, c.customer_id, c.percent_off, c.amount_cents, c.description, c.source, " +
    ms_of("c.issued_at") + ", " + ms_of("c.expires_at") + ", " + ms_of("c.redeemed_at") +
    ", r.redeemed_by, r.place FROM coupons c LEFT JOIN coupon_redemptions r ON r.coupon_id = c.id ";

nlohmann::json coupons_of(pqxx::work& tx, std::int64_t customer_id) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r :
       tx.exec_params(kCouponSelect + "WHERE c.customer_id = $1 ORDER BY c.id", customer_id)) {
    out.push_back(coupon_json(r));
  }
  return out;
}

// Everything the controller holds about one customer (GDPR access request).
nlohmann::json export_customer(DomainContext& d, pqxx::work& tx, std::int64_t id) {
  const auto rows =
      tx.exec_params("SELECT " + kCustomerColumns + " FROM customers WHERE id = $1", id);
  if (rows.empty()) return nullptr;
  nlohmann::json sessions = nlohmann::json::array();
  for (const auto& r : tx.exec_params("SELECT " + ms_of("created_at") + ", " + ms_of("expires_at") +
                                          ", " + ms_of("revoked_at") +
                                          ", address FROM sessions WHERE account_kind = "
                                          "'customer' AND account_id = $1 ORDER BY id",
                                      id)) {
    sessions.push_back({{"created_at", ts(r[0].as<std::int64_t>())},
                        {"expires_at", ts(r[1].as<std::int64_t>())},
                        {"revoked_at", nullable_ts(r[2])},
                        {"address", nullable_str(r[3])}});
  }
  nlohmann::json donations = nlohmann::json::array();
  for (const auto& r :
       tx.exec_params("SELECT id FROM donations WHERE customer_id = $1 ORDER BY id", id)) {
    auto j = donation_json(tx, r[0].as<std::int64_t>(), false);
    donations.push_back(j);
  }
  nlohmann::json orders = nlohmann::json::array();
  for (const auto& r :
       tx.exec_params("SELECT id FROM buying_orders WHERE customer_id = $1 ORDER BY id", id)) {
    orders.push_back(buying_order_json(tx, r[0].as<std::int64_t>(), false));
  }
  nlohmann::json cart = nlohmann::json::array();
  for (const auto& r : tx.exec_params(
           "SELECT product_id, " + ms_of("added_at") + " FROM cart_items WHERE customer_id = $1",
           id)) {
    cart.push_back(
        {{"product_id", r[0].as<std::int64_t>()}, {"added_at", ts(r[1].as<std::int64_t>())}});
  }
  nlohmann::json notifications = nlohmann::json::array();
  for (const auto& r : tx.exec_params("SELECT kind, payload::text, " + ms_of("created_at") + ", " +
                                          ms_of("sent_at") +
                                          " FROM notifications WHERE recipient_kind = 'customer' "
                                          "AND recipient_id = $1 ORDER BY id",
                                      id)) {
    notifications.push_back({{"kind", r[0].as<std::string>()},
                             {"payload", nlohmann::json::parse(r[1].c_str(), nullptr, false)},
                             {"created_at", ts(r[2].as<std::int64_t>())},
                             {"sent_at", nullable_ts(r[3])}});
  }
  return {{"format", "reclothes-customer-export/1"},
          {"exported_at", ts(d.now_ms())},
          {"customer", customer_admin_json(rows[0], true)},
          {"sessions", sessions},
          {"donations", donations},
          {"orders", orders},
          {"cart", cart},
          {"coins", coins_json(tx, id)},
          {"coupons", coupons_of(tx, id)},
          {"notifications", notifications}};
}

HandlerResult erase_customer(DomainContext& d, RequestContext& ctx) {
  auto& tx = ctx.tx();
  const auto id = id_param(ctx, "customer_id");
  ctx.set_audit({"customer", std::to_string(id), nullptr, nullptr, ""});
  const auto rows = tx.exec_params(
      "SELECT email, erased_at IS NOT NULL FROM customers WHERE id = $1 FOR UPDATE", id);
  if (rows.empty()) return ApiError::not_found("customer");
  if (rows[0][1].as<bool>()) return ApiError::conflict("already_erased", "this customer is erased");
  // Open orders still need the customer (a deposit token to use, a parcel to pick up, a refund
  // to receive): finish or cancel them first.
  nlohmann::json open_donations = nlohmann::json::array();
  for (const auto& r :
       tx.exec_params("SELECT id FROM donations WHERE customer_id = $1 AND state IN ('reserved', "
                      "'deposited', 'collected') ORDER BY id",
                      id)) {
    open_donations.push_back(r[0].as<std::int64_t>());
  }
  nlohmann::json open_orders = nlohmann::json::array();
  for (const auto& r : tx.exec_params(
           "SELECT id FROM buying_orders WHERE customer_id = $1 AND state NOT IN ('completed', "
           "'cancelled', 'payment_failed', 'refunded') ORDER BY id",
           id)) {
    open_orders.push_back(r[0].as<std::int64_t>());
  }
  if (!open_donations.empty() || !open_orders.empty()) {
    ApiError e = ApiError::conflict("customer_has_open_orders",
                                    "finish or cancel the customer's open orders first");
    e.details = {{"donations", open_donations}, {"orders", open_orders}};
    return e;
  }
  const auto now = ts(d.now_ms());
  const auto old_email = rows[0][0].as<std::string>();
  // Personal data goes; ids, orders, payments, coins and coupons stay, linked to the anonymous
  // account, so bookkeeping still adds up.
  tx.exec_params(
      "UPDATE customers SET email = 'erased-' || id || '@erased.invalid', password_hash = "
      "'$argon2id$erased', display_name = '', phone = NULL, status = 'disabled', erased_at = "
      "$2::timestamptz, updated_at = $2::timestamptz WHERE id = $1",
      id, now);
  tx.exec_params(
      "UPDATE sessions SET revoked_at = COALESCE(revoked_at, $2::timestamptz), address = NULL "
      "WHERE account_kind = 'customer' AND account_id = $1",
      id, now);
  tx.exec_params("DELETE FROM login_failures WHERE scope = 'customer' AND account_key = $1",
                 old_email);
  tx.exec_params("DELETE FROM cart_items WHERE customer_id = $1", id);
  tx.exec_params(
      "UPDATE donation_items SET condition_notes = '' WHERE donation_id IN (SELECT id FROM "
      "donations WHERE customer_id = $1)",
      id);
  tx.exec_params("UPDATE donations SET token_text = NULL WHERE customer_id = $1", id);
  tx.exec_params(
      "UPDATE buying_orders SET pickup_token_text = NULL, return_token_text = NULL WHERE "
      "customer_id = $1",
      id);
  tx.exec_params(
      "UPDATE notifications SET payload = '{}'::jsonb WHERE recipient_kind = 'customer' AND "
      "recipient_id = $1",
      id);
  ctx.set_audit({"customer", std::to_string(id), nullptr, {{"erased_at", now}}, "gdpr erase"});
  ctx.after_commit([&d, id] { d.s.sessions.forget_cached(AccountKind::kCustomer, id); });
  return Response::ok({{"id", id}, {"erased_at", now}});
}

HandlerResult adjust_coins(DomainContext& d, RequestContext& ctx) {
  FieldReader r(ctx.body());
  const auto delta = r.integer("delta", -1'000'000, 1'000'000);
  const auto reason = r.string("reason", 1, 200);
  if (r.ok() && delta == 0) r.fail("delta", "must not be 0");
  RC_FINISH_BODY(r);
  auto& tx = ctx.tx();
  const auto id = id_param(ctx, "customer_id");
  ctx.set_audit({"customer", std::to_string(id), nullptr, nullptr, reason});
  // The customer row lock serialises adjustments, so two debits cannot both pass the check.
  if (tx.exec_params("SELECT 1 FROM customers WHERE id = $1 FOR UPDATE", id).empty()) {
    return ApiError::not_found("customer");
  }
  const auto before = coin_balance(tx, id);
  if (before + delta < 0) {
    ApiError e = ApiError::conflict("insufficient_coins", "the balance would become negative");
    e.details = {{"balance", before}};
    return e;
  }
  tx.exec_params(
      "INSERT INTO coin_ledger (customer_id, delta, reason, ref_kind, created_by, created_at) "
      "VALUES ($1, $2, $3, 'staff', $4, $5::timestamptz)",
      id, delta, reason, ctx.principal().account_id, ts(d.now_ms()));
  ctx.set_audit({"customer",
                 std::to_string(id),
                 {{"balance", before}},
                 {{"balance", before + delta}, {"delta", delta}},
                 reason});
  return Response::created(coins_json(tx, id));
}

// ---- coupons ------------------------------------------------------------------------------------

HandlerResult issue_coupon(DomainContext& d, RequestContext& ctx) {
  FieldReader r(ctx.body());
  const auto customer = r.optional_integer("customer_id", 1, INT64_MAX);
  const auto percent = r.optional_integer("percent_off", 1, 100);
  const auto amount = r.optional_integer("amount_cents", 1, 100'000'000);
  const auto description = r.optional_string("description", 0, 500);
  const auto days = r.optional_integer("valid_days", 1, 3650);
  if (r.ok() && percent.has_value() == amount.has_value()) {
    r.fail("percent_off", "give exactly one of percent_off and amount_cents");
  }
  RC_FINISH_BODY(r);
  auto& tx = ctx.tx();
  if (customer && tx.exec_params("SELECT 1 FROM customers WHERE id = $1", *customer).empty()) {
    return ApiError::not_found("customer");
  }
  const auto now = d.now_ms();
  const auto code = new_coupon_code();
  const auto id =
      tx.exec_params1(
            "INSERT INTO coupons (code, customer_id, percent_off, amount_cents, "
            "description, source, issued_by, issued_at, expires_at) VALUES ($1, $2, "
            "$3, $4, $5, 'staff', $6, $7::timestamptz, $8::timestamptz) RETURNING id",
            code, customer, percent, amount, description.value_or(""), ctx.principal().account_id,
            ts(now), ts(now + days.value_or(365) * 24 * 3600 * 1000))[0]
          .as<std::int64_t>();
  const auto j = coupon_json(tx.exec_params1(kCouponSelect + "WHERE c.id = $1", id));
  ctx.set_audit({"coupon", std::to_string(id), nullptr, j, ""});
  return Response::created(j);
}

HandlerResult redeem_coupon(DomainContext& d, RequestContext& ctx) {
  FieldReader r(ctx.body());
  const auto code = r.string("code", 6, 32);
  const auto place = r.optional_string("place", 0, 200);
  RC_FINISH_BODY(r);
  auto& tx = ctx.tx();
  ctx.set_audit({"coupon", code, nullptr, nullptr, ""});
  const auto now = d.now_ms();
  // One conditional UPDATE decides: of two simultaneous redemptions the second waits for the
  // first's row lock, re-reads redeemed_at and matches nothing.
  const auto won = tx.exec_params(
      "UPDATE coupons SET redeemed_at = $2::timestamptz WHERE code = $1 AND redeemed_at IS NULL "
      "AND expires_at > $2::timestamptz RETURNING id",
      code, ts(now));
  if (won.empty()) {
    const auto why = tx.exec_params(
        "SELECT redeemed_at IS NOT NULL, expires_at <= $2::timestamptz FROM coupons WHERE code = "
        "$1",
        code, ts(now));
    if (why.empty()) return ApiError::not_found("coupon");
    if (why[0][0].as<bool>()) {
      return ApiError::conflict("coupon_already_redeemed", "this coupon was redeemed already");
    }
    return ApiError::conflict("coupon_expired", "this coupon has expired");
  }
  const auto id = won[0][0].as<std::int64_t>();
  tx.exec_params(
      "INSERT INTO coupon_redemptions (coupon_id, redeemed_by, place, redeemed_at, request_id) "
      "VALUES ($1, $2, $3, $4::timestamptz, $5)",
      id, ctx.principal().account_id, place.value_or(""), ts(now), ctx.request_id());
  const auto j = coupon_json(tx.exec_params1(kCouponSelect + "WHERE c.id = $1", id));
  ctx.set_audit({"coupon", std::to_string(id), nullptr, j, ""});
  return Response::ok(j);
}

}  // namespace

void register_management_routes(Router& router, const std::shared_ptr<DomainContext>& dp) {
  using L = Listener;
  using M = HttpMethod;
  using P = Permission;
  auto d = dp;

  // Products and prices.
  router.add(route(L::kInternal, M::kGet, "/internal/v1/products", Access::needs(P::kProductsWrite),
                   "product.list", false, BodyKind::kNone,
                   "All products, listed or not; filter by status, unpriced, title",
                   [](RequestContext& ctx) { return list_products_internal(ctx); }));
  router.add(route(L::kInternal, M::kPost, "/internal/v1/products",
                   Access::needs(P::kProductsWrite), "product.create", true, BodyKind::kRequired,
                   "Create a product (unpriced, so not listed until a manager sets a price)",
                   [d](RequestContext& ctx) { return create_product(*d, ctx); }));
  router.add(route(L::kInternal, M::kGet, "/internal/v1/products/{id}",
                   Access::needs(P::kProductsWrite), "product.read", false, BodyKind::kNone,
                   "One product with its price history", [](RequestContext& ctx) -> HandlerResult {
                     auto j = product_with_history(ctx.tx(), id_param(ctx, "id"));
                     if (!j) return ApiError::not_found("product");
                     return Response::ok(*j);
                   }));
  router.add(route(L::kInternal, M::kPatch, "/internal/v1/products/{id}",
                   Access::needs(P::kProductsWrite), "product.update", true, BodyKind::kRequired,
                   "Edit a product's description or withdraw/relist it (not its price)",
                   [d](RequestContext& ctx) { return update_product(*d, ctx); }));
  router.add(route(L::kInternal, M::kPut, "/internal/v1/products/{id}/price",
                   Access::needs(P::kPricesWrite), "product.price", true, BodyKind::kRequired,
                   "Set a product's price (recorded in its price history)",
                   [d](RequestContext& ctx) { return set_price(*d, ctx); }));

  // Customers.
  router.add(route(L::kInternal, M::kGet, "/internal/v1/customers",
                   Access::needs(P::kCustomersReadMasked), "customer.list", false, BodyKind::kNone,
                   "Customers; personal data masked unless the caller has customers.read_full",
                   [](RequestContext& ctx) -> HandlerResult {
                     const bool full = ctx.principal().can(Permission::kCustomersReadFull);
                     auto limit = query_int(ctx, "limit", 1, 200);
                     if (!limit.ok()) return std::move(limit).error();
                     auto offset = query_int(ctx, "offset", 0, 1000000);
                     if (!offset.ok()) return std::move(offset).error();
                     std::string where = "true";
                     std::vector<std::string> params;
                     if (auto q = ctx.query("email")) {
                       // Finding by exact email is allowed even when the result is shown masked.
                       params.push_back(*q);
                       where += " AND email = lower($1)";
                     }
                     nlohmann::json items = nlohmann::json::array();
                     for (const auto& r : ctx.tx().exec_params(
                              "SELECT " + kCustomerColumns + " FROM customers WHERE " + where +
                                  " ORDER BY id LIMIT " + std::to_string(limit->value_or(50)) +
                                  " OFFSET " + std::to_string(offset->value_or(0)),
                              pqxx::prepare::make_dynamic_params(params))) {
                       items.push_back(customer_admin_json(r, full));
                     }
                     return Response::ok({{"items", items}});
                   }));
  router.add(route(
      L::kInternal, M::kGet, "/internal/v1/customers/{customer_id}",
      Access::needs(P::kCustomersReadMasked), "customer.admin_read", false, BodyKind::kNone,
      "One customer with coin balance and order counts; masked unless customers.read_full",
      [](RequestContext& ctx) -> HandlerResult {
        auto& tx = ctx.tx();
        const auto id = id_param(ctx, "customer_id");
        const auto rows =
            tx.exec_params("SELECT " + kCustomerColumns + " FROM customers WHERE id = $1", id);
        if (rows.empty()) return ApiError::not_found("customer");
        auto j = customer_admin_json(rows[0], ctx.principal().can(Permission::kCustomersReadFull));
        j["coin_balance"] = coin_balance(tx, id);
        j["donations"] =
            tx.exec_params1("SELECT count(*) FROM donations WHERE customer_id = $1", id)[0]
                .as<std::int64_t>();
        j["orders"] =
            tx.exec_params1("SELECT count(*) FROM buying_orders WHERE customer_id = $1", id)[0]
                .as<std::int64_t>();
        return Response::ok(j);
      }));
  router.add(
      route(L::kInternal, M::kGet, "/internal/v1/customers/{customer_id}/export",
            Access::needs(P::kCustomersReadFull), "customer.export", true, BodyKind::kNone,
            "GDPR: everything held about one customer, as JSON (audited)",
            [d](RequestContext& ctx) -> HandlerResult {
              const auto id = id_param(ctx, "customer_id");
              auto j = export_customer(*d, ctx.tx(), id);
              if (j.is_null()) return ApiError::not_found("customer");
              ctx.set_audit(
                  {"customer", std::to_string(id), nullptr, {{"exported", true}}, "gdpr export"});
              return Response::ok(j);
            }));
  router.add(route(L::kInternal, M::kPost, "/internal/v1/customers/{customer_id}/erase",
                   Access::needs(P::kCustomersReadFull), "customer.erase", true, BodyKind::kNone,
                   "GDPR: anonymise a customer; orders, payments and coins stay consistent",
                   [d](RequestContext& ctx) { return erase_customer(*d, ctx); }));
  router.add(route(L::kInternal, M::kPost, "/internal/v1/customers/{customer_id}/coins",
                   Access::needs(P::kPricesWrite), "customer.coins", true, BodyKind::kRequired,
                   "Add a coin ledger record (goodwill credit or correction); never below 0",
                   [d](RequestContext& ctx) { return adjust_coins(*d, ctx); }));

  // Coupons.
  router.add(route(L::kInternal, M::kPost, "/internal/v1/coupons", Access::needs(P::kPricesWrite),
                   "coupon.issue", true, BodyKind::kRequired,
                   "Issue an offline coupon (percent or amount off), optionally to a customer",
                   [d](RequestContext& ctx) { return issue_coupon(*d, ctx); }));
  router.add(route(L::kInternal, M::kGet, "/internal/v1/coupons",
                   Access::needs(P::kCustomersReadMasked), "coupon.list", false, BodyKind::kNone,
                   "Coupons with their usage records; filter by customer_id",
                   [](RequestContext& ctx) -> HandlerResult {
                     auto customer = query_int(ctx, "customer_id", 1, INT64_MAX);
                     if (!customer.ok()) return std::move(customer).error();
                     nlohmann::json items = nlohmann::json::array();
                     const auto rows =
                         *customer ? ctx.tx().exec_params(
                                         kCouponSelect + "WHERE c.customer_id = $1 ORDER BY c.id",
                                         **customer)
                                   : ctx.tx().exec(kCouponSelect + "ORDER BY c.id DESC LIMIT 200");
                     for (const auto& r : rows) items.push_back(coupon_json(r));
                     return Response::ok({{"items", items}});
                   }));
  router.add(route(L::kInternal, M::kPost, "/internal/v1/coupons/redeem",
                   Access::needs(P::kOrdersReadAssigned), "coupon.redeem", true,
                   BodyKind::kRequired,
                   "Redeem an offline coupon by its code: once only, with a usage record",
                   [d](RequestContext& ctx) { return redeem_coupon(*d, ctx); }));

  // The customer's own.
  router.add(route(L::kPublic, M::kGet, "/v1/coins", Access::customer(), "coins.read", false,
                   BodyKind::kNone, "Coin balance (the sum of the ledger records) and the records",
                   [](RequestContext& ctx) -> HandlerResult {
                     return Response::ok(coins_json(ctx.tx(), ctx.principal().account_id));
                   }));
  router.add(
      route(L::kPublic, M::kGet, "/v1/coupons", Access::customer(), "coupons.read", false,
            BodyKind::kNone, "The customer's coupons", [](RequestContext& ctx) -> HandlerResult {
              return Response::ok({{"items", coupons_of(ctx.tx(), ctx.principal().account_id)}});
            }));
  auto self_export =
      route(L::kPublic, M::kGet, "/v1/customers/{customer_id}/export", Access::customer(),
            "customer.self_export", false, BodyKind::kNone, "GDPR: all of one's own data as JSON",
            [d](RequestContext& ctx) -> HandlerResult {
              return Response::ok(export_customer(*d, ctx.tx(), ctx.principal().account_id));
            });
  self_export.owner_param = "customer_id";
  router.add(std::move(self_export));
}

}  // namespace reclothes::controller::domain
