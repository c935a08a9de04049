// Management's store called directly against real PostgreSQL: each function with a transaction
// and plain values, its result and each refusal it can return, and database failures coming back
// as DomainErrors instead of exceptions.
#include <chrono>
#include <optional>
#include <string>

#include "../../src/domain/store/management_store.h"
#include "domain_fixture.h"

namespace reclothes::controller::testing {
namespace {

using namespace std::chrono_literals;

class ManagementStoreTest : public DomainTest {
 protected:
  // Runs a store call in a transaction of the controller's pool that commits when the call
  // succeeded and rolls back when it refused (as a route's transaction does).
  template <typename F>
  auto in_tx(F&& f) -> decltype(f(std::declval<pqxx::work&>())) {
    std::optional<decltype(f(std::declval<pqxx::work&>()))> out;
    const auto st = controller_->db().with_transaction([&](pqxx::work& tx) -> Status {
      out.emplace(f(tx));
      if (out->ok()) return ok_status();
      return Error{ErrorCode::kFailedPrecondition, "refused: rolled back"};
    });
    if (!out) return domain::DomainError::from(st.error());
    EXPECT_TRUE(st.ok() || !out->ok()) << st.error().message;
    return std::move(*out);
  }

  std::int64_t now() const { return clock_.wall_ms(); }

  std::int64_t new_product(const std::string& title, const std::string& category = "tops") {
    domain::ProductDraft draft{title, "", category, "M", "", manager_id_};
    auto p = in_tx([&](pqxx::work& tx) { return domain::create_product(tx, draft, now()); });
    EXPECT_TRUE(p.ok());
    return p.ok() ? (*p)["id"].get<std::int64_t>() : 0;
  }

  domain::StoreResult<domain::PriceChange> price(std::int64_t id, std::int64_t cents) {
    return in_tx([&](pqxx::work& tx) {
      return domain::set_product_price(tx, id, cents, manager_id_, now());
    });
  }

  void set_product_status(std::int64_t id, const std::string& status) {
    exec("UPDATE products SET status = '" + status + "' WHERE id = " + std::to_string(id));
  }

  domain::StoreResult<domain::CoinsAdjusted> adjust(std::int64_t customer, std::int64_t delta) {
    return in_tx([&](pqxx::work& tx) {
      return domain::adjust_coins(tx, {customer, delta, "goodwill", manager_id_}, now());
    });
  }

  domain::StoreResult<nlohmann::json> issue(std::optional<std::int64_t> customer,
                                            std::int64_t valid_days = 365) {
    domain::CouponDraft draft{customer, 10, std::nullopt, "ten off", valid_days, manager_id_};
    return in_tx([&](pqxx::work& tx) { return domain::issue_coupon(tx, draft, now()); });
  }

  domain::StoreResult<nlohmann::json> redeem(const std::string& code, std::int64_t at_ms) {
    return in_tx([&](pqxx::work& tx) {
      return domain::redeem_coupon(tx, {code, "shop", manager_id_, "req-1"}, at_ms);
    });
  }

  static constexpr std::int64_t kDayMs = 24 * 3600 * 1000;

  static void expect_not_found(const domain::DomainError& e, const std::string& what) {
    EXPECT_EQ(e.kind, ErrorCode::kNotFound);
    EXPECT_EQ(e.code, "not_found");
    EXPECT_EQ(e.message, what + " not found");
    EXPECT_EQ(e.details, nlohmann::json::object()) << "the API shows {} as its details";
  }

  static void expect_conflict(const domain::DomainError& e, const std::string& code) {
    EXPECT_EQ(e.kind, ErrorCode::kFailedPrecondition);
    EXPECT_EQ(e.code, code) << e.message;
  }
};

// ---- products -----------------------------------------------------------------------------------

TEST_F(ManagementStoreTest, CreateProductIsUnpricedAvailableAndUnlisted) {
  domain::ProductDraft draft{"Wool coat", "warm", "outerwear", "L", "good", manager_id_};
  auto p = in_tx([&](pqxx::work& tx) { return domain::create_product(tx, draft, now()); });
  ASSERT_TRUE(p.ok()) << p.error().cause;
  EXPECT_EQ((*p)["title"], "Wool coat");
  EXPECT_EQ((*p)["condition"], "good");
  EXPECT_EQ((*p)["status"], "available");
  EXPECT_TRUE((*p)["price_cents"].is_null());
  EXPECT_FALSE((*p)["listed"].get<bool>());
  EXPECT_EQ((*p)["created_at"], ts(now()));
  EXPECT_EQ((*p)["price_history"], nlohmann::json::array());
  EXPECT_EQ(
      count("SELECT count(*) FROM products WHERE created_by = " + std::to_string(manager_id_)), 1);
}

TEST_F(ManagementStoreTest, ProductWithHistoryShowsEveryPriceChangeOrNotFound) {
  const auto id = new_product("Cap");
  ASSERT_TRUE(price(id, 1500).ok());
  clock_.advance(1h);
  ASSERT_TRUE(price(id, 1200).ok());
  auto p = in_tx([&](pqxx::work& tx) { return domain::product_with_history(tx, id); });
  ASSERT_TRUE(p.ok());
  EXPECT_EQ((*p)["price_cents"], 1200);
  const auto& history = (*p)["price_history"];
  ASSERT_EQ(history.size(), 2u);
  EXPECT_TRUE(history[0]["old_price_cents"].is_null());
  EXPECT_EQ(history[1]["old_price_cents"], 1500);
  EXPECT_EQ(history[1]["new_price_cents"], 1200);
  EXPECT_EQ(history[1]["changed_by"], manager_id_);
  EXPECT_EQ(history[1]["changed_at"], ts(now()));

  auto missing = in_tx([&](pqxx::work& tx) { return domain::product_with_history(tx, id + 100); });
  ASSERT_FALSE(missing.ok());
  expect_not_found(missing.error(), "product");
}

TEST_F(ManagementStoreTest, ListStaffProductsFiltersCountsAndPages) {
  const auto coat = new_product("Wool Coat");
  const auto cap = new_product("Cap");
  const auto scarf = new_product("Wool scarf");
  ASSERT_TRUE(price(cap, 900).ok());
  set_product_status(scarf, "withdrawn");
  auto list = [&](domain::StaffProductQuery q) {
    auto page = in_tx([&](pqxx::work& tx) { return domain::list_staff_products(tx, q); });
    std::vector<std::int64_t> ids;
    if (!page.ok()) return std::make_pair(ids, std::int64_t{-1});
    for (const auto& p : page->items) ids.push_back(p["id"].get<std::int64_t>());
    return std::make_pair(ids, page->total);
  };
  using Ids = std::vector<std::int64_t>;
  EXPECT_EQ(list({}), std::make_pair(Ids{scarf, cap, coat}, std::int64_t{3})) << "newest first";
  EXPECT_EQ(list({.unpriced = true}).first, (Ids{scarf, coat}));
  EXPECT_EQ(list({.title = "WOOL"}).first, (Ids{scarf, coat})) << "title, any case";
  EXPECT_EQ(list({.status = "available", .unpriced = true, .title = "wool"}).first, (Ids{coat}));
  EXPECT_EQ(list({.status = "sold"}).second, 0);
  // A page keeps the total of all matches.
  EXPECT_EQ(list({.limit = 1, .offset = 1}), std::make_pair(Ids{cap}, std::int64_t{3}));
}

TEST_F(ManagementStoreTest, UpdateProductChangesOnlyTheGivenFieldsAndReportsBeforeAndAfter) {
  const auto id = new_product("Coat");
  clock_.advance(1min);
  domain::ProductEdit edit;
  edit.description = "Warm, size L";
  edit.status = "withdrawn";
  auto change = in_tx([&](pqxx::work& tx) { return domain::update_product(tx, id, edit, now()); });
  ASSERT_TRUE(change.ok()) << change.error().message;
  EXPECT_EQ(change->before["description"], "");
  EXPECT_EQ(change->before["status"], "available");
  EXPECT_EQ(change->after["description"], "Warm, size L");
  EXPECT_EQ(change->after["status"], "withdrawn");
  EXPECT_EQ(change->after["title"], "Coat") << "fields not given stay";
  EXPECT_EQ(change->after["updated_at"], ts(now()));
  EXPECT_EQ(change->after["price_history"], nlohmann::json::array());
}

TEST_F(ManagementStoreTest, UpdateProductRefusesUnknownIdsAndListingAProductInSale) {
  const auto id = new_product("Coat");
  domain::ProductEdit relist;
  relist.status = "available";
  auto missing =
      in_tx([&](pqxx::work& tx) { return domain::update_product(tx, id + 1, relist, now()); });
  ASSERT_FALSE(missing.ok());
  expect_not_found(missing.error(), "product");

  for (const auto* status : {"reserved", "sold"}) {
    set_product_status(id, status);
    auto in_sale =
        in_tx([&](pqxx::work& tx) { return domain::update_product(tx, id, relist, now()); });
    ASSERT_FALSE(in_sale.ok()) << status;
    expect_conflict(in_sale.error(), "product_in_sale");
    EXPECT_EQ(in_sale.error().message, "a reserved or sold product cannot be listed or withdrawn");
    EXPECT_EQ(count("SELECT count(*) FROM products WHERE status = '" + std::string(status) + "'"),
              1);
  }
  // Its description may still change.
  domain::ProductEdit text;
  text.description = "sold as seen";
  auto edited = in_tx([&](pqxx::work& tx) { return domain::update_product(tx, id, text, now()); });
  ASSERT_TRUE(edited.ok());
  EXPECT_EQ(edited->after["status"], "sold");
}

TEST_F(ManagementStoreTest, SetProductPriceReturnsTheOldPriceAndRecordsHistory) {
  const auto id = new_product("Cap");
  auto first = price(id, 1500);
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->old_price_cents.has_value());
  EXPECT_TRUE(first->product["listed"].get<bool>());
  auto second = price(id, 1200);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->old_price_cents, 1500);
  EXPECT_EQ(second->product["price_cents"], 1200);
  EXPECT_EQ(second->product["price_history"].size(), 2u);
  EXPECT_EQ(count("SELECT count(*) FROM price_history WHERE product_id = " + std::to_string(id)),
            2);
}

TEST_F(ManagementStoreTest, SetProductPriceRefusesUnknownAndSoldProducts) {
  const auto id = new_product("Cap");
  auto missing = price(id + 1, 100);
  ASSERT_FALSE(missing.ok());
  expect_not_found(missing.error(), "product");
  ASSERT_TRUE(price(id, 1500).ok());
  set_product_status(id, "sold");
  auto sold = price(id, 100);
  ASSERT_FALSE(sold.ok());
  expect_conflict(sold.error(), "product_sold");
  EXPECT_EQ(count("SELECT price_cents FROM products WHERE id = " + std::to_string(id)), 1500);
  EXPECT_EQ(count("SELECT count(*) FROM price_history"), 1) << "the refusal wrote nothing";
}

// ---- customers ----------------------------------------------------------------------------------

TEST_F(ManagementStoreTest, ListCustomersMasksUnlessFullAndFindsByEmail) {
  std::int64_t ada = 0;
  std::int64_t bob = 0;
  customer("ada", &ada);
  customer("bob", &bob);
  auto list = [&](domain::CustomerQuery q) {
    auto items = in_tx([&](pqxx::work& tx) { return domain::list_customers(tx, q); });
    EXPECT_TRUE(items.ok());
    return items.ok() ? *items : nlohmann::json();
  };
  const auto masked = list({});
  ASSERT_EQ(masked.size(), 2u);
  EXPECT_EQ(masked[0]["id"], ada);
  EXPECT_TRUE(masked[0]["masked"].get<bool>());
  EXPECT_NE(masked[0]["email"], "ada1@example.org");
  const auto full = list({.full = true});
  EXPECT_EQ(full[0]["email"], "ada1@example.org");
  EXPECT_FALSE(full[0]["masked"].get<bool>());
  // The exact email finds a customer even when the answer is masked (any case).
  const auto found = list({.email = "BOB2@example.org"});
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0]["id"], bob);
  EXPECT_TRUE(found[0]["masked"].get<bool>());
  const auto second = list({.limit = 1, .offset = 1});
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0]["id"], bob);
}

TEST_F(ManagementStoreTest, CustomerAdminViewCountsCoinsDonationsAndOrdersOrNotFound) {
  add_fleet({"M", "M"});
  std::int64_t cid = 0;
  const auto token = customer("ada", &cid);
  ASSERT_EQ(create_donation(token, {{{"category", "tops"}, {"count", 1}}}).status, 201);
  ASSERT_EQ(buy(token, {listed_product("Cap", 1500)}).status, 201);
  ASSERT_TRUE(adjust(cid, 30).ok());
  auto view = in_tx([&](pqxx::work& tx) { return domain::customer_admin_view(tx, cid, false); });
  ASSERT_TRUE(view.ok());
  EXPECT_EQ((*view)["coin_balance"], 30);
  EXPECT_EQ((*view)["donations"], 1);
  EXPECT_EQ((*view)["orders"], 1);
  EXPECT_TRUE((*view)["masked"].get<bool>());

  auto missing =
      in_tx([&](pqxx::work& tx) { return domain::customer_admin_view(tx, cid + 1, true); });
  ASSERT_FALSE(missing.ok());
  expect_not_found(missing.error(), "customer");
}

TEST_F(ManagementStoreTest, ExportCustomerHoldsEverythingUnmaskedOrNotFound) {
  std::int64_t cid = 0;
  customer("ada", &cid);
  ASSERT_TRUE(adjust(cid, 25).ok());
  ASSERT_TRUE(issue(cid).ok());
  clock_.advance(1h);
  auto data = in_tx([&](pqxx::work& tx) { return domain::export_customer(tx, cid, now()); });
  ASSERT_TRUE(data.ok()) << data.error().cause;
  EXPECT_EQ((*data)["format"], "reclothes-customer-export/1");
  EXPECT_EQ((*data)["exported_at"], ts(now()));
  EXPECT_EQ((*data)["customer"]["email"], "ada1@example.org");
  EXPECT_FALSE((*data)["customer"]["masked"].get<bool>());
  EXPECT_EQ((*data)["sessions"].size(), 1u) << "the login";
  EXPECT_EQ((*data)["coins"]["balance"], 25);
  ASSERT_EQ((*data)["coupons"].size(), 1u);
  EXPECT_EQ((*data)["coupons"][0]["percent_off"], 10);
  EXPECT_EQ((*data)["donations"], nlohmann::json::array());
  EXPECT_EQ((*data)["orders"], nlohmann::json::array());
  EXPECT_EQ((*data)["cart"], nlohmann::json::array());

  auto missing = in_tx([&](pqxx::work& tx) { return domain::export_customer(tx, cid + 1, now()); });
  ASSERT_FALSE(missing.ok());
  expect_not_found(missing.error(), "customer");
}

TEST_F(ManagementStoreTest, EraseCustomerAnonymisesAndKeepsTheLedger) {
  std::int64_t cid = 0;
  customer("ada", &cid);
  ASSERT_TRUE(adjust(cid, 25).ok());
  clock_.advance(1h);
  auto erased = in_tx([&](pqxx::work& tx) { return domain::erase_customer(tx, cid, now()); });
  ASSERT_TRUE(erased.ok()) << erased.error().message;
  EXPECT_EQ(*erased, ts(now()));
  const auto row = query("SELECT email, display_name, status, phone IS NULL FROM customers");
  EXPECT_EQ(row[0][0].as<std::string>(), "erased-" + std::to_string(cid) + "@erased.invalid");
  EXPECT_EQ(row[0][1].as<std::string>(), "");
  EXPECT_EQ(row[0][2].as<std::string>(), "disabled");
  EXPECT_TRUE(row[0][3].as<bool>());
  EXPECT_EQ(
      count("SELECT count(*) FROM sessions WHERE account_kind = 'customer' AND revoked_at IS NULL"),
      0);
  EXPECT_EQ(count("SELECT sum(delta) FROM coin_ledger"), 25) << "bookkeeping stays";

  auto again = in_tx([&](pqxx::work& tx) { return domain::erase_customer(tx, cid, now()); });
  ASSERT_FALSE(again.ok());
  expect_conflict(again.error(), "already_erased");
  auto missing = in_tx([&](pqxx::work& tx) { return domain::erase_customer(tx, cid + 1, now()); });
  ASSERT_FALSE(missing.ok());
  expect_not_found(missing.error(), "customer");
}

TEST_F(ManagementStoreTest, EraseCustomerRefusesWhileOrdersAreOpenNamingThem) {
  add_fleet({"M", "M", "L"});
  std::int64_t cid = 0;
  const auto token = customer("ada", &cid);
  auto donation = create_donation(token, {{{"category", "tops"}, {"count", 1}}});
  ASSERT_EQ(donation.status, 201);
  auto order = buy(token, {listed_product("Cap", 1500)});
  ASSERT_EQ(order.status, 201);
  auto refused = in_tx([&](pqxx::work& tx) { return domain::erase_customer(tx, cid, now()); });
  ASSERT_FALSE(refused.ok());
  expect_conflict(refused.error(), "customer_has_open_orders");
  EXPECT_EQ(refused.error().message, "finish or cancel the customer's open orders first");
  EXPECT_EQ(refused.error().details,
            (nlohmann::json{{"donations", nlohmann::json::array({donation.body["id"]})},
                            {"orders", nlohmann::json::array({order.body["id"]})}}));
  EXPECT_EQ(count("SELECT count(*) FROM customers WHERE erased_at IS NULL"), 1);
}

// ---- coins --------------------------------------------------------------------------------------

TEST_F(ManagementStoreTest, CustomerCoinsIsTheSumOfTheRecords) {
  std::int64_t cid = 0;
  customer("ada", &cid);
  ASSERT_TRUE(adjust(cid, 40).ok());
  ASSERT_TRUE(adjust(cid, -15).ok());
  auto coins = in_tx([&](pqxx::work& tx) { return domain::customer_coins(tx, cid); });
  ASSERT_TRUE(coins.ok());
  EXPECT_EQ((*coins)["balance"], 25);
  ASSERT_EQ((*coins)["records"].size(), 2u);
  EXPECT_EQ((*coins)["records"][1]["delta"], -15);
  EXPECT_EQ((*coins)["records"][1]["ref_kind"], "staff");
  EXPECT_TRUE((*coins)["records"][1]["ref_id"].is_null());
  auto nobody = in_tx([&](pqxx::work& tx) { return domain::customer_coins(tx, cid + 1); });
  ASSERT_TRUE(nobody.ok());
  EXPECT_EQ((*nobody)["balance"], 0);
}

TEST_F(ManagementStoreTest, AdjustCoinsReturnsTheBalanceBeforeAndNeverGoesBelowZero) {
  std::int64_t cid = 0;
  customer("ada", &cid);
  auto credit = adjust(cid, 20);
  ASSERT_TRUE(credit.ok());
  EXPECT_EQ(credit->balance_before, 0);
  EXPECT_EQ(credit->coins["balance"], 20);
  EXPECT_EQ(credit->coins["records"][0]["reason"], "goodwill");

  auto overdraw = adjust(cid, -21);
  ASSERT_FALSE(overdraw.ok());
  expect_conflict(overdraw.error(), "insufficient_coins");
  EXPECT_EQ(overdraw.error().details, (nlohmann::json{{"balance", 20}}));
  auto exact = adjust(cid, -20);
  ASSERT_TRUE(exact.ok());
  EXPECT_EQ(exact->balance_before, 20);
  EXPECT_EQ(exact->coins["balance"], 0);

  auto missing = adjust(cid + 1, 5);
  ASSERT_FALSE(missing.ok());
  expect_not_found(missing.error(), "customer");
  EXPECT_EQ(count("SELECT count(*) FROM coin_ledger"), 2);
}

// ---- coupons ------------------------------------------------------------------------------------

TEST_F(ManagementStoreTest, IssueCouponGivesANewCodeValidForTheGivenDays) {
  std::int64_t cid = 0;
  customer("ada", &cid);
  auto coupon = issue(cid, 30);
  ASSERT_TRUE(coupon.ok()) << coupon.error().cause;
  EXPECT_EQ((*coupon)["customer_id"], cid);
  EXPECT_EQ((*coupon)["percent_off"], 10);
  EXPECT_TRUE((*coupon)["amount_cents"].is_null());
  EXPECT_EQ((*coupon)["source"], "staff");
  EXPECT_EQ((*coupon)["issued_at"], ts(now()));
  EXPECT_EQ((*coupon)["expires_at"], ts(now() + 30 * kDayMs));
  EXPECT_TRUE((*coupon)["redemption"].is_null());
  EXPECT_EQ((*coupon)["code"].get<std::string>().rfind("RCC-", 0), 0u);
  auto other = issue(std::nullopt);
  ASSERT_TRUE(other.ok());
  EXPECT_NE((*other)["code"], (*coupon)["code"]);
  EXPECT_TRUE((*other)["customer_id"].is_null());

  auto missing = issue(cid + 1);
  ASSERT_FALSE(missing.ok());
  expect_not_found(missing.error(), "customer");
  EXPECT_EQ(count("SELECT count(*) FROM coupons"), 2);
}

TEST_F(ManagementStoreTest, ListCouponsByCustomerInOrderOrAllNewestFirst) {
  std::int64_t ada = 0;
  std::int64_t bob = 0;
  customer("ada", &ada);
  customer("bob", &bob);
  const auto a1 = (*issue(ada))["id"];
  const auto b1 = (*issue(bob))["id"];
  const auto a2 = (*issue(ada))["id"];
  auto ids = [&](std::optional<std::int64_t> customer) {
    auto items = in_tx([&](pqxx::work& tx) { return domain::list_coupons(tx, customer); });
    nlohmann::json out = nlohmann::json::array();
    if (!items.ok()) return nlohmann::json();
    for (const auto& c : *items) out.push_back(c["id"]);
    return out;
  };
  EXPECT_EQ(ids(ada), nlohmann::json::array({a1, a2}));
  EXPECT_EQ(ids(bob), nlohmann::json::array({b1}));
  EXPECT_EQ(ids(std::nullopt), nlohmann::json::array({a2, b1, a1}));
  EXPECT_EQ(ids(bob + 1), nlohmann::json::array());
}

TEST_F(ManagementStoreTest, RedeemCouponOnceWithAUsageRecord) {
  auto coupon = issue(std::nullopt);
  ASSERT_TRUE(coupon.ok());
  const auto code = (*coupon)["code"].get<std::string>();
  clock_.advance(1h);
  auto redeemed = redeem(code, now());
  ASSERT_TRUE(redeemed.ok()) << redeemed.error().message;
  EXPECT_EQ((*redeemed)["redeemed_at"], ts(now()));
  EXPECT_EQ((*redeemed)["redemption"],
            (nlohmann::json{{"redeemed_by", manager_id_}, {"place", "shop"}}));
  EXPECT_EQ(count("SELECT count(*) FROM coupon_redemptions WHERE request_id = 'req-1'"), 1);

  auto again = redeem(code, now());
  ASSERT_FALSE(again.ok());
  expect_conflict(again.error(), "coupon_already_redeemed");
  EXPECT_EQ(count("SELECT count(*) FROM coupon_redemptions"), 1);
}

TEST_F(ManagementStoreTest, RedeemCouponRefusesExpiredAndUnknownCodes) {
  auto coupon = issue(std::nullopt, 1);
  ASSERT_TRUE(coupon.ok());
  const auto code = (*coupon)["code"].get<std::string>();
  auto expired = redeem(code, now() + kDayMs);
  ASSERT_FALSE(expired.ok());
  expect_conflict(expired.error(), "coupon_expired");
  EXPECT_EQ(expired.error().message, "this coupon has expired");
  EXPECT_EQ(count("SELECT count(*) FROM coupons WHERE redeemed_at IS NULL"), 1);
  ASSERT_TRUE(redeem(code, now() + kDayMs - 1).ok()) << "valid until its last millisecond";

  auto unknown = redeem("RCC-NOSUCHCODE", now());
  ASSERT_FALSE(unknown.ok());
  expect_not_found(unknown.error(), "coupon");
}

// ---- database failures --------------------------------------------------------------------------

// (A connection killed under the transaction would be the other retryable failure, but libpqxx 6.4
// leaks the failed statement's PGresult then, which LeakSanitizer reports.)
TEST_F(ManagementStoreTest, ASerializationFailureComesBackAsARetryableDomainError) {
  std::int64_t cid = 0;
  customer("ada", &cid);
  auto coins = in_tx([&](pqxx::work& tx) {
    tx.exec("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ");
    tx.exec("SELECT 1");  // the snapshot
    // Another connection changes the customer row after the snapshot; locking it now cannot
    // serialise.
    exec("UPDATE customers SET display_name = 'Ada' WHERE id = " + std::to_string(cid));
    return domain::adjust_coins(tx, {cid, 5, "goodwill", manager_id_}, now());
  });
  ASSERT_FALSE(coins.ok());
  EXPECT_EQ(coins.error().kind, ErrorCode::kUnavailable);
  EXPECT_NE(coins.error().cause.find("serialize"), std::string::npos) << coins.error().cause;
  EXPECT_EQ(count("SELECT count(*) FROM coin_ledger"), 0);
  // Tried again, it goes through.
  EXPECT_TRUE(adjust(cid, 5).ok());
}

TEST_F(ManagementStoreTest, AMissingTableComesBackAsAnInternalDomainError) {
  auto coupons = in_tx([&](pqxx::work& tx) {
    tx.exec("ALTER TABLE coupon_redemptions RENAME TO coupon_redemptions_closed");
    return domain::list_coupons(tx, std::nullopt);
  });
  ASSERT_FALSE(coupons.ok());
  EXPECT_EQ(coupons.error().kind, ErrorCode::kInternal);
  EXPECT_NE(coupons.error().cause.find("coupon_redemptions"), std::string::npos)
      << coupons.error().cause;
  // The transaction was rolled back: the table is back.
  EXPECT_EQ(count("SELECT count(*) FROM coupon_redemptions"), 0);
}

}  // namespace
}  // namespace reclothes::controller::testing
