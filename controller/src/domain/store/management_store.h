// Management's store: products and prices for staff, customers (masked or full), the GDPR export
// and erase, coin adjustments, coupons (issue, list, redeem), and the customer's own coins,
// coupons and export. Every function takes the caller's transaction and plain values and returns
// a StoreResult (outcome.h); nothing here knows HTTP.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <string>

#include "outcome.h"
#include "shared.h"

namespace reclothes::controller::domain {

// ---- products -----------------------------------------------------------------------------------

// The staff's product list: all products, listed or not.
struct StaffProductQuery {
  // available, reserved, sold or withdrawn (checked by the caller)
  std::optional<std::string> status = std::nullopt;
  bool unpriced = false;                            // only products without a price
  std::optional<std::string> title = std::nullopt;  // case-insensitive substring of the title
  std::int64_t limit = 50;
  std::int64_t offset = 0;
};
StoreResult<ProductPage> list_staff_products(pqxx::work& tx, const StaffProductQuery& query);

// A new product: unpriced (so not listed) and available.
struct ProductDraft {
  std::string title;
  std::string description;
  std::string category;
  std::string size;
  std::string condition;
  std::int64_t created_by = 0;  // staff id
};
// The product with its (empty) price history.
StoreResult<nlohmann::json> create_product(pqxx::work& tx, const ProductDraft& draft,
                                           std::int64_t now_ms);

// One product with its price history. Errors: not_found "product".
StoreResult<nlohmann::json> product_with_history(pqxx::work& tx, std::int64_t id);

// The fields of an edit that are set; status is available or withdrawn (checked by caller).
struct ProductEdit {
  std::optional<std::string> title;
  std::optional<std::string> description;
  std::optional<std::string> category;
  std::optional<std::string> size;
  std::optional<std::string> condition;
  std::optional<std::string> status;
};
struct ProductChange {
  nlohmann::json before;  // product with history
  nlohmann::json after;
};
// Errors: not_found "product"; conflict product_in_sale when a status is given for a reserved or
// sold product.
StoreResult<ProductChange> update_product(pqxx::work& tx, std::int64_t id, const ProductEdit& edit,
                                          std::int64_t now_ms);

struct PriceChange {
  std::optional<std::int64_t> old_price_cents;  // nullopt: it had none
  nlohmann::json product;                       // with its price history
};
// Sets the price and records it in the price history. Errors: not_found "product"; conflict
// product_sold.
StoreResult<PriceChange> set_product_price(pqxx::work& tx, std::int64_t id,
                                           std::int64_t price_cents, std::int64_t changed_by,
                                           std::int64_t now_ms);

// ---- customers ----------------------------------------------------------------------------------

struct CustomerQuery {
  std::optional<std::string> email = std::nullopt;  // exact (lower-cased) email
  bool full = false;                                // false: personal data masked
  std::int64_t limit = 50;
  std::int64_t offset = 0;
};
// A JSON array of customers in id order.
StoreResult<nlohmann::json> list_customers(pqxx::work& tx, const CustomerQuery& query);

// One customer with coin_balance and the counts of donations and orders. Errors: not_found
// "customer".
StoreResult<nlohmann::json> customer_admin_view(pqxx::work& tx, std::int64_t id, bool full);

// The customer's contact as the staff customer routes show it (id, email, display_name, phone,
// status, created_at, erased_at, masked): masked unless full. null: no such customer. Throws on
// database errors (for other stores, inside their guarded()).
nlohmann::json customer_contact_json(pqxx::work& tx, std::int64_t id, bool full);

// Everything the controller holds about one customer (GDPR access request), unmasked. Errors:
// not_found "customer".
StoreResult<nlohmann::json> export_customer(pqxx::work& tx, std::int64_t id, std::int64_t now_ms);

// Anonymises a customer (GDPR erasure): personal data goes; ids, orders, payments, coins and
// coupons stay. Returns erased_at as RFC 3339. Errors: not_found "customer"; conflict
// already_erased; conflict customer_has_open_orders with details {donations, orders} (ids).
// The caller drops the customer's cached sessions after commit.
StoreResult<std::string> erase_customer(pqxx::work& tx, std::int64_t id, std::int64_t now_ms);

// ---- coins --------------------------------------------------------------------------------------

// {"balance", "records"}: the balance is the sum of the ledger records.
StoreResult<nlohmann::json> customer_coins(pqxx::work& tx, std::int64_t customer_id);

struct CoinAdjustment {
  std::int64_t customer_id = 0;
  std::int64_t delta = 0;  // never 0 (checked by caller)
  std::string reason;
  std::int64_t created_by = 0;  // staff id
};
struct CoinsAdjusted {
  std::int64_t balance_before = 0;
  nlohmann::json coins;  // customer_coins after the record
};
// Adds a staff ledger record; the customer row lock serialises adjustments. Errors: not_found
// "customer"; conflict insufficient_coins with details {balance} when the balance would become
// negative.
StoreResult<CoinsAdjusted> adjust_coins(pqxx::work& tx, const CoinAdjustment& adjustment,
                                        std::int64_t now_ms);

// ---- coupons ------------------------------------------------------------------------------------

// Exactly one of percent_off and amount_cents is set (checked by caller).
struct CouponDraft {
  std::optional<std::int64_t> customer_id;
  std::optional<std::int64_t> percent_off;
  std::optional<std::int64_t> amount_cents;
  std::string description;
  std::int64_t valid_days = 365;
  std::int64_t issued_by = 0;  // staff id
};
// The issued coupon (a new code). Errors: not_found "customer" for an unknown customer_id.
StoreResult<nlohmann::json> issue_coupon(pqxx::work& tx, const CouponDraft& draft,
                                         std::int64_t now_ms);

// A JSON array of coupons with their redemption: a customer's in id order, or (nullopt) the
// newest 200 of all.
StoreResult<nlohmann::json> list_coupons(pqxx::work& tx, std::optional<std::int64_t> customer_id);

struct CouponRedemption {
  std::string code;
  std::string place;
  std::int64_t redeemed_by = 0;  // staff id
  std::string request_id;
};
// Redeems a coupon once: of two simultaneous redemptions only one wins. Errors: not_found
// "coupon"; conflict coupon_already_redeemed; conflict coupon_expired.
StoreResult<nlohmann::json> redeem_coupon(pqxx::work& tx, const CouponRedemption& redemption,
                                          std::int64_t now_ms);

}  // namespace reclothes::controller::domain
