// Management's store: every SQL statement of products, customers, coins and coupons.
#include "management_store.h"

#include <vector>

#include "coins_store.h"
#include "reclothes/controller/domain/rules.h"
#include "shared.h"

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

std::optional<nlohmann::json> product_and_history(pqxx::work& tx, std::int64_t id) {
  const auto rows =
      tx.exec_params("SELECT " + kProductColumns + " FROM products WHERE id = $1", id);
  if (rows.empty()) return std::nullopt;
  auto j = product_json(rows[0]);
  j["price_history"] = price_history_json(tx, id);
  return j;
}

// ---- customers ----------------------------------------------------------------------------------

const std::string kCustomerAdminColumns =
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

std::optional<pqxx::row> customer_row(pqxx::work& tx, std::int64_t id) {
  const auto rows =
      tx.exec_params("SELECT " + kCustomerAdminColumns + " FROM customers WHERE id = $1", id);
  if (rows.empty()) return std::nullopt;
  return rows[0];
}

std::int64_t customer_row_count(pqxx::work& tx, const std::string& table,
                                std::int64_t customer_id) {
  return tx
      .exec_params1("SELECT count(*) FROM " + table + " WHERE customer_id = $1", customer_id)[0]
      .as<std::int64_t>();
}

// The first column of each row, as a JSON array of ids.
nlohmann::json id_list_json(const pqxx::result& rows) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : rows) out.push_back(r[0].as<std::int64_t>());
  return out;
}

nlohmann::json ledger_json(pqxx::work& tx, std::int64_t customer_id) {
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
  // debt: coins taken back that the balance could not cover; later credits pay it off first.
  return {{"balance", sum}, {"debt", coin_debt(tx, customer_id)}, {"records", records}};
}

// ---- coupons ------------------------------------------------------------------------------------

nlohmann::json coupon_row_json(const pqxx::row& r) {
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

const std::string kCouponWithRedemptionSelect =
    "SELECT c.id, c.code, c.customer_id, c.percent_off, c.amount_cents, c.description, c.source, " +
    ms_of("c.issued_at") + ", " + ms_of("c.expires_at") + ", " + ms_of("c.redeemed_at") +
    ", r.redeemed_by, r.place FROM coupons c LEFT JOIN coupon_redemptions r ON r.coupon_id = c.id ";

nlohmann::json coupon_list_json(const pqxx::result& rows) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : rows) out.push_back(coupon_row_json(r));
  return out;
}

nlohmann::json customer_coupons_json(pqxx::work& tx, std::int64_t customer_id) {
  return coupon_list_json(tx.exec_params(
      kCouponWithRedemptionSelect + "WHERE c.customer_id = $1 ORDER BY c.id", customer_id));
}

nlohmann::json coupon_json_by_id(pqxx::work& tx, std::int64_t id) {
  return coupon_row_json(tx.exec_params1(kCouponWithRedemptionSelect + "WHERE c.id = $1", id));
}

// ---- export -------------------------------------------------------------------------------------

nlohmann::json export_sessions(pqxx::work& tx, std::int64_t id) {
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
  return sessions;
}

// The customer's orders of one table, each as view(tx, id, false).
nlohmann::json export_orders(pqxx::work& tx, const std::string& table, std::int64_t id,
                             nlohmann::json (*view)(pqxx::work&, std::int64_t, bool)) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r :
       tx.exec_params("SELECT id FROM " + table + " WHERE customer_id = $1 ORDER BY id", id)) {
    out.push_back(view(tx, r[0].as<std::int64_t>(), false));
  }
  return out;
}

nlohmann::json export_cart(pqxx::work& tx, std::int64_t id) {
  nlohmann::json cart = nlohmann::json::array();
  for (const auto& r : tx.exec_params(
           "SELECT product_id, " + ms_of("added_at") + " FROM cart_items WHERE customer_id = $1",
           id)) {
    cart.push_back(
        {{"product_id", r[0].as<std::int64_t>()}, {"added_at", ts(r[1].as<std::int64_t>())}});
  }
  return cart;
}

nlohmann::json export_notifications(pqxx::work& tx, std::int64_t id) {
  nlohmann::json notifications = nlohmann::json::array();
  // A live reset or email-change code in an export would let whoever reads it (staff with
  // customers.read_full) take the account over: codes are never exported.
  for (const auto& r : tx.exec_params("SELECT kind, (CASE WHEN kind IN ('password_reset', "
                                      "'email_change') THEN payload - 'code' ELSE payload "
                                      "END)::text, " +
                                          ms_of("created_at") + ", " + ms_of("sent_at") +
                                          " FROM notifications WHERE recipient_kind = 'customer' "
                                          "AND recipient_id = $1 ORDER BY id",
                                      id)) {
    notifications.push_back({{"kind", r[0].as<std::string>()},
                             {"payload", nlohmann::json::parse(r[1].c_str(), nullptr, false)},
                             {"created_at", ts(r[2].as<std::int64_t>())},
                             {"sent_at", nullable_ts(r[3])}});
  }
  return notifications;
}

// ---- erase --------------------------------------------------------------------------------------

// Open orders still need the customer (a deposit token to use, a parcel to pick up, a refund to
// receive): finish or cancel them first.
std::optional<DomainError> open_orders_refusal(pqxx::work& tx, std::int64_t id) {
  const auto donations =
      id_list_json(tx.exec_params("SELECT id FROM donations WHERE customer_id = $1 AND state IN "
                                  "('reserved', 'deposited', 'collected') ORDER BY id",
                                  id));
  const auto orders = id_list_json(tx.exec_params(
      "SELECT id FROM buying_orders WHERE customer_id = $1 AND state NOT IN ('completed', "
      "'cancelled', 'payment_failed', 'refunded') ORDER BY id",
      id));
  if (donations.empty() && orders.empty()) return std::nullopt;
  return DomainError::conflict("customer_has_open_orders",
                               "finish or cancel the customer's open orders first",
                               {{"donations", donations}, {"orders", orders}});
}

// Personal data goes; ids, orders, payments, coins and coupons stay, linked to the anonymous
// account, so bookkeeping still adds up.
void anonymise_customer(pqxx::work& tx, std::int64_t id, const std::string& old_email,
                        const std::string& now) {
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
  // Reset and email-change codes (migration 0010): a pending new address is personal data too.
  tx.exec_params("DELETE FROM account_codes WHERE customer_id = $1", id);
  tx.exec_params("DELETE FROM account_code_requests WHERE email_key = $1", old_email);
  tx.exec_params("DELETE FROM cart_items WHERE customer_id = $1", id);
  // Stored replies of Idempotency-Key requests may echo personal data (a shipping address).
  tx.exec_params("DELETE FROM idempotency_keys WHERE customer_id = $1", id);
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
}

}  // namespace

// ---- products -----------------------------------------------------------------------------------

StoreResult<ProductPage> list_staff_products(pqxx::work& tx, const StaffProductQuery& query) {
  return guarded([&]() -> StoreResult<ProductPage> {
    std::string where = "true";
    std::vector<std::string> params;
    if (query.status) {
      params.push_back(*query.status);
      where += " AND status = $" + std::to_string(params.size());
    }
    if (query.unpriced) where += " AND price_cents IS NULL";
    if (query.title) {
      params.push_back(*query.title);
      where += " AND strpos(lower(title), lower($" + std::to_string(params.size()) + ")) > 0";
    }
    const auto p = pqxx::prepare::make_dynamic_params(params);
    ProductPage page;
    page.total =
        tx.exec_params1("SELECT count(*) FROM products WHERE " + where, p)[0].as<std::int64_t>();
    for (const auto& row :
         tx.exec_params("SELECT " + kProductColumns + " FROM products WHERE " + where +
                            " ORDER BY id DESC LIMIT " + std::to_string(query.limit) + " OFFSET " +
                            std::to_string(query.offset),
                        p)) {
      page.items.push_back(product_json(row));
    }
    return page;
  });
}

StoreResult<nlohmann::json> create_product(pqxx::work& tx, const ProductDraft& draft,
                                           std::int64_t now_ms) {
  return guarded([&]() -> StoreResult<nlohmann::json> {
    const auto id = tx.exec_params1(
                          "INSERT INTO products (title, description, category, size, condition, "
                          "status, created_by, created_at, updated_at) VALUES ($1, $2, $3, $4, "
                          "$5, 'available', $6, $7::timestamptz, $7::timestamptz) RETURNING id",
                          draft.title, draft.description, draft.category, draft.size,
                          draft.condition, draft.created_by, ts(now_ms))[0]
                        .as<std::int64_t>();
    return *product_and_history(tx, id);
  });
}

StoreResult<nlohmann::json> product_with_history(pqxx::work& tx, std::int64_t id) {
  return guarded([&]() -> StoreResult<nlohmann::json> {
    auto j = product_and_history(tx, id);
    if (!j) return DomainError::not_found("product");
    return std::move(*j);
  });
}

StoreResult<ProductChange> update_product(pqxx::work& tx, std::int64_t id, const ProductEdit& edit,
                                          std::int64_t now_ms) {
  return guarded([&]() -> StoreResult<ProductChange> {
    const auto cur = tx.exec_params("SELECT status FROM products WHERE id = $1 FOR UPDATE", id);
    if (cur.empty()) return DomainError::not_found("product");
    ProductChange change;
    change.before = *product_and_history(tx, id);
    const auto status = cur[0][0].as<std::string>();
    if (edit.status && status != "available" && status != "withdrawn") {
      return DomainError::conflict("product_in_sale",
                                   "a reserved or sold product cannot be listed or withdrawn");
    }
    tx.exec_params(
        "UPDATE products SET title = COALESCE($2, title), description = COALESCE($3, "
        "description), category = COALESCE($4, category), size = COALESCE($5, size), condition "
        "= COALESCE($6, condition), status = COALESCE($7, status), updated_at = $8::timestamptz "
        "WHERE id = $1",
        id, edit.title, edit.description, edit.category, edit.size, edit.condition, edit.status,
        ts(now_ms));
    change.after = *product_and_history(tx, id);
    return change;
  });
}

StoreResult<PriceChange> set_product_price(pqxx::work& tx, std::int64_t id,
                                           std::int64_t price_cents, std::int64_t changed_by,
                                           std::int64_t now_ms) {
  return guarded([&]() -> StoreResult<PriceChange> {
    const auto cur =
        tx.exec_params("SELECT status, price_cents FROM products WHERE id = $1 FOR UPDATE", id);
    if (cur.empty()) return DomainError::not_found("product");
    if (cur[0][0].as<std::string>() == "sold") {
      return DomainError::conflict("product_sold", "a sold product keeps the price it was sold at");
    }
    PriceChange change;
    change.old_price_cents = opt<std::int64_t>(cur[0][1]);
    tx.exec_params(
        "UPDATE products SET price_cents = $2, updated_at = $3::timestamptz WHERE id = $1", id,
        price_cents, ts(now_ms));
    tx.exec_params(
        "INSERT INTO price_history (product_id, old_price_cents, new_price_cents, changed_by, "
        "changed_at) VALUES ($1, $2, $3, $4, $5::timestamptz)",
        id, change.old_price_cents, price_cents, changed_by, ts(now_ms));
    change.product = *product_and_history(tx, id);
    return change;
  });
}

// ---- customers ----------------------------------------------------------------------------------

StoreResult<nlohmann::json> list_customers(pqxx::work& tx, const CustomerQuery& query) {
  return guarded([&]() -> StoreResult<nlohmann::json> {
    std::string where = "true";
    std::vector<std::string> params;
    if (query.email) {
      // Finding by exact email is allowed even when the result is shown masked.
      params.push_back(*query.email);
      where += " AND email = lower($1)";
    }
    nlohmann::json items = nlohmann::json::array();
    for (const auto& r :
         tx.exec_params("SELECT " + kCustomerAdminColumns + " FROM customers WHERE " + where +
                            " ORDER BY id LIMIT " + std::to_string(query.limit) + " OFFSET " +
                            std::to_string(query.offset),
                        pqxx::prepare::make_dynamic_params(params))) {
      items.push_back(customer_admin_json(r, query.full));
    }
    return items;
  });
}

nlohmann::json customer_contact_json(pqxx::work& tx, std::int64_t id, bool full) {
  const auto row = customer_row(tx, id);
  return row ? customer_admin_json(*row, full) : nlohmann::json();
}

StoreResult<nlohmann::json> customer_admin_view(pqxx::work& tx, std::int64_t id, bool full) {
  return guarded([&]() -> StoreResult<nlohmann::json> {
    const auto row = customer_row(tx, id);
    if (!row) return DomainError::not_found("customer");
    auto j = customer_admin_json(*row, full);
    j["coin_balance"] = coin_balance(tx, id);
    j["donations"] = customer_row_count(tx, "donations", id);
    j["orders"] = customer_row_count(tx, "buying_orders", id);
    return j;
  });
}

StoreResult<nlohmann::json> export_customer(pqxx::work& tx, std::int64_t id, std::int64_t now_ms) {
  return guarded([&]() -> StoreResult<nlohmann::json> {
    const auto row = customer_row(tx, id);
    if (!row) return DomainError::not_found("customer");
    auto sessions = export_sessions(tx, id);
    auto donations = export_orders(tx, "donations", id, donation_json);
    auto orders = export_orders(tx, "buying_orders", id, buying_order_json);
    auto cart = export_cart(tx, id);
    auto notifications = export_notifications(tx, id);
    return nlohmann::json{{"format", "reclothes-customer-export/1"},
                          {"exported_at", ts(now_ms)},
                          {"customer", customer_admin_json(*row, true)},
                          {"sessions", std::move(sessions)},
                          {"donations", std::move(donations)},
                          {"orders", std::move(orders)},
                          {"cart", std::move(cart)},
                          {"coins", ledger_json(tx, id)},
                          {"coupons", customer_coupons_json(tx, id)},
                          {"notifications", std::move(notifications)}};
  });
}

StoreResult<std::string> erase_customer(pqxx::work& tx, std::int64_t id, std::int64_t now_ms) {
  return guarded([&]() -> StoreResult<std::string> {
    const auto rows = tx.exec_params(
        "SELECT email, erased_at IS NOT NULL FROM customers WHERE id = $1 FOR UPDATE", id);
    if (rows.empty()) return DomainError::not_found("customer");
    if (rows[0][1].as<bool>()) {
      return DomainError::conflict("already_erased", "this customer is erased");
    }
    if (auto refusal = open_orders_refusal(tx, id)) return std::move(*refusal);
    const auto now = ts(now_ms);
    anonymise_customer(tx, id, rows[0][0].as<std::string>(), now);
    return now;
  });
}

// ---- coins --------------------------------------------------------------------------------------

StoreResult<nlohmann::json> customer_coins(pqxx::work& tx, std::int64_t customer_id) {
  return guarded([&]() -> StoreResult<nlohmann::json> { return ledger_json(tx, customer_id); });
}

StoreResult<CoinsAdjusted> adjust_coins(pqxx::work& tx, const CoinAdjustment& adjustment,
                                        std::int64_t now_ms) {
  return guarded([&]() -> StoreResult<CoinsAdjusted> {
    const auto id = adjustment.customer_id;
    // The customer row lock serialises adjustments, so two debits cannot both pass the check.
    if (tx.exec_params("SELECT 1 FROM customers WHERE id = $1 FOR UPDATE", id).empty()) {
      return DomainError::not_found("customer");
    }
    CoinsAdjusted out;
    out.balance_before = coin_balance(tx, id);
    if (out.balance_before + adjustment.delta < 0) {
      return DomainError::conflict("insufficient_coins", "the balance would become negative",
                                   {{"balance", out.balance_before}});
    }
    const auto credit = tx.exec_params1(
        "INSERT INTO coin_ledger (customer_id, delta, reason, ref_kind, created_by, created_at) "
        "VALUES ($1, $2, $3, 'staff', $4, $5::timestamptz) RETURNING id",
        id, adjustment.delta, adjustment.reason, adjustment.created_by, ts(now_ms));
    // A goodwill credit pays an open coin debt off first (coins_store.h).
    settle_coin_debts(tx, id, credit[0].as<std::int64_t>(), static_cast<int>(adjustment.delta),
                      now_ms);
    out.coins = ledger_json(tx, id);
    return out;
  });
}

// ---- coupons ------------------------------------------------------------------------------------

StoreResult<nlohmann::json> issue_coupon(pqxx::work& tx, const CouponDraft& draft,
                                         std::int64_t now_ms) {
  return guarded([&]() -> StoreResult<nlohmann::json> {
    if (draft.customer_id &&
        tx.exec_params("SELECT 1 FROM customers WHERE id = $1", *draft.customer_id).empty()) {
      return DomainError::not_found("customer");
    }
    const auto id = tx.exec_params1(
                          "INSERT INTO coupons (code, customer_id, percent_off, amount_cents, "
                          "description, source, issued_by, issued_at, expires_at) VALUES ($1, $2, "
                          "$3, $4, $5, 'staff', $6, $7::timestamptz, $8::timestamptz) RETURNING id",
                          new_coupon_code(), draft.customer_id, draft.percent_off,
                          draft.amount_cents, draft.description, draft.issued_by, ts(now_ms),
                          ts(now_ms + draft.valid_days * 24 * 3600 * 1000))[0]
                        .as<std::int64_t>();
    return coupon_json_by_id(tx, id);
  });
}

StoreResult<nlohmann::json> list_coupons(pqxx::work& tx, std::optional<std::int64_t> customer_id) {
  return guarded([&]() -> StoreResult<nlohmann::json> {
    if (customer_id) return customer_coupons_json(tx, *customer_id);
    return coupon_list_json(tx.exec(kCouponWithRedemptionSelect + "ORDER BY c.id DESC LIMIT 200"));
  });
}

StoreResult<nlohmann::json> redeem_coupon(pqxx::work& tx, const CouponRedemption& redemption,
                                          std::int64_t now_ms) {
  return guarded([&]() -> StoreResult<nlohmann::json> {
    const auto now = ts(now_ms);
    // One conditional UPDATE decides: of two simultaneous redemptions the second waits for the
    // first's row lock, re-reads redeemed_at and matches nothing.
    const auto won = tx.exec_params(
        "UPDATE coupons SET redeemed_at = $2::timestamptz WHERE code = $1 AND redeemed_at IS "
        "NULL AND expires_at > $2::timestamptz RETURNING id",
        redemption.code, now);
    if (won.empty()) {
      const auto why = tx.exec_params(
          "SELECT redeemed_at IS NOT NULL, expires_at <= $2::timestamptz FROM coupons WHERE code "
          "= $1",
          redemption.code, now);
      if (why.empty()) return DomainError::not_found("coupon");
      if (why[0][0].as<bool>()) {
        return DomainError::conflict("coupon_already_redeemed", "this coupon was redeemed already");
      }
      return DomainError::conflict("coupon_expired", "this coupon has expired");
    }
    const auto id = won[0][0].as<std::int64_t>();
    tx.exec_params(
        "INSERT INTO coupon_redemptions (coupon_id, redeemed_by, place, redeemed_at, request_id) "
        "VALUES ($1, $2, $3, $4::timestamptz, $5)",
        id, redemption.redeemed_by, redemption.place, now, redemption.request_id);
    return coupon_json_by_id(tx, id);
  });
}

}  // namespace reclothes::controller::domain
