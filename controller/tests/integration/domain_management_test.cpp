// Management against real PostgreSQL: assigned-only visibility of internal orders, products and
// price history, coupons (redeemed once, also concurrently), the coin ledger, masked customer
// data, GDPR export and erase, and notification delivery through a webhook.
#include <atomic>
#include <mutex>
#include <thread>

#include "domain_fixture.h"

namespace reclothes::controller::testing {
namespace {

using namespace std::chrono_literals;

class ManagementTest : public DomainTest {
 protected:
  void SetUp() override {
    DomainTest::SetUp();
    add_fleet({"M", "M", "L"});
  }
};

TEST_F(ManagementTest, StaffSeeOnlyTheOrdersAssignedToThemManagersSeeAll) {
  const auto buyer = customer("buyer");
  auto first = buy(buyer, {listed_product("A", 1000)});
  auto second = buy(buyer, {listed_product("B", 1000)});
  ASSERT_EQ(first.status, 201);
  ASSERT_EQ(second.status, 201);
  const auto p1 = task_of("packing", first.body["id"].get<std::int64_t>());
  const auto p2 = task_of("packing", second.body["id"].get<std::int64_t>());
  std::int64_t other_id = 0;
  const auto other_packer = staff_token({Role::kPacker}, &other_id);
  ASSERT_EQ(assign(p1, packer_id_).status, 200);

  auto mine = internal("GET", "/internal/v1/orders", std::nullopt, packer_);
  ASSERT_EQ(mine.status, 200);
  ASSERT_EQ(mine.body["items"].size(), 1u);
  EXPECT_EQ(mine.body["items"][0]["id"], p1);
  EXPECT_EQ(internal("GET", "/internal/v1/orders", std::nullopt, other_packer).body["items"].size(),
            0u);
  // Asking for someone else's work does not widen the view.
  EXPECT_EQ(internal("GET", "/internal/v1/orders?assignee_id=" + std::to_string(packer_id_),
                     std::nullopt, other_packer)
                .body["items"]
                .size(),
            0u);
  EXPECT_EQ(get_task(p1, other_packer).status, 404);
  EXPECT_EQ(get_task(p2, packer_).status, 404) << "unassigned work is not visible to staff";
  EXPECT_EQ(internal("POST", "/internal/v1/orders/" + std::to_string(p1) + "/complete",
                     std::nullopt, other_packer)
                .status,
            404);

  // Managers see everything and filter.
  auto all = internal("GET", "/internal/v1/orders?kind=packing", std::nullopt, manager_);
  EXPECT_EQ(all.body["items"].size(), 2u);
  auto unassigned = internal("GET", "/internal/v1/orders?unassigned=true", std::nullopt, manager_);
  ASSERT_EQ(unassigned.body["items"].size(), 1u);
  EXPECT_EQ(unassigned.body["items"][0]["id"], p2);
  auto by_state = internal("GET", "/internal/v1/orders?state=assigned", std::nullopt, manager_);
  EXPECT_EQ(by_state.body["items"].size(), 1u);
  auto page = internal("GET", "/internal/v1/orders?limit=1", std::nullopt, manager_);
  ASSERT_EQ(page.body["items"].size(), 1u);
  auto rest =
      internal("GET", "/internal/v1/orders?limit=1&before_id=" + page.body["next_before_id"].dump(),
               std::nullopt, manager_);
  ASSERT_EQ(rest.body["items"].size(), 1u);
  EXPECT_NE(rest.body["items"][0]["id"], page.body["items"][0]["id"]);
  EXPECT_EQ(internal("GET", "/internal/v1/orders?kind=returns", std::nullopt, manager_).status,
            400);
  // Only managers assign; an assignee must have the order kind's role.
  EXPECT_EQ(internal("POST", "/internal/v1/orders/" + std::to_string(p2) + "/assign",
                     nlohmann::json{{"staff_id", other_id}}, packer_)
                .status,
            403);
  EXPECT_EQ(assign(p2, delivery_id_).code(), "assignee_not_eligible");
  ASSERT_EQ(assign(p2, other_id).status, 200);
  EXPECT_EQ(get_task(p2, other_packer).status, 200);
  // Done work cannot be assigned again.
  ASSERT_EQ(internal("POST", "/internal/v1/orders/" + std::to_string(p1) + "/complete",
                     std::nullopt, packer_)
                .status,
            200);
  auto again = assign(p1, other_id);
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(again.body["error"]["details"]["from"], "done");
}

TEST_F(ManagementTest, PermittedStaffEditProductsOnlyManagersChangePricesWithHistory) {
  auto created =
      internal("POST", "/internal/v1/products",
               nlohmann::json{{"title", "Wool coat"}, {"category", "outerwear"}}, checker_);
  ASSERT_EQ(created.status, 201) << describe(created);
  const auto id = created.body["id"].get<std::int64_t>();
  const auto path = "/internal/v1/products/" + std::to_string(id);
  EXPECT_FALSE(created.body["listed"].get<bool>());
  auto edited = internal("PATCH", path, nlohmann::json{{"description", "Warm, size L"}}, checker_);
  ASSERT_EQ(edited.status, 200);
  EXPECT_EQ(edited.body["description"], "Warm, size L");
  // The price is not part of an edit, and the price route needs prices.write.
  auto sneaky = internal("PATCH", path, nlohmann::json{{"price_cents", 100}}, checker_);
  EXPECT_EQ(sneaky.status, 400);
  EXPECT_EQ(sneaky.body["error"]["details"]["field"], "/price_cents");
  auto denied = internal("PUT", path + "/price", nlohmann::json{{"price_cents", 100}}, checker_);
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(denied.body["error"]["details"]["permission"], "prices.write");
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action = 'product.price' AND outcome = "
                  "'denied'"),
            1);

  ASSERT_EQ(
      internal("PUT", path + "/price", nlohmann::json{{"price_cents", 4900}}, manager_).status,
      200);
  clock_.advance(1h);
  auto repriced = internal("PUT", path + "/price", nlohmann::json{{"price_cents", 3900}}, manager_);
  ASSERT_EQ(repriced.status, 200);
  EXPECT_TRUE(repriced.body["listed"].get<bool>());
  const auto& history = repriced.body["price_history"];
  ASSERT_EQ(history.size(), 2u);
  EXPECT_TRUE(history[0]["old_price_cents"].is_null());
  EXPECT_EQ(history[0]["new_price_cents"], 4900);
  EXPECT_EQ(history[1]["old_price_cents"], 4900);
  EXPECT_EQ(history[1]["new_price_cents"], 3900);
  EXPECT_EQ(history[1]["changed_by"], manager_id_);
  EXPECT_EQ(pub("GET", "/v1/products/" + std::to_string(id)).body["price_cents"], 3900);
  // Audited with before and after.
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action = 'product.price' AND outcome = "
                  "'ok' AND before->>'price_cents' = '4900' AND after->>'price_cents' = '3900'"),
            1);
  // Withdrawn: no longer listed.
  ASSERT_EQ(internal("PATCH", path, nlohmann::json{{"status", "withdrawn"}}, checker_).status, 200);
  EXPECT_EQ(pub("GET", "/v1/products/" + std::to_string(id)).status, 404);
  EXPECT_EQ(internal("GET", "/internal/v1/products?status=withdrawn", std::nullopt, checker_)
                .body["total"],
            1);
}

TEST_F(ManagementTest, ACouponIsRedeemedOnceEvenWhenTriedConcurrently) {
  std::int64_t cid = 0;
  const auto holder = customer("holder", &cid);
  auto issued = internal("POST", "/internal/v1/coupons",
                         nlohmann::json{{"customer_id", cid}, {"percent_off", 15}}, manager_);
  ASSERT_EQ(issued.status, 201) << describe(issued);
  const auto code = issued.body["code"].get<std::string>();
  auto first = internal("POST", "/internal/v1/coupons/redeem",
                        nlohmann::json{{"code", code}, {"place", "Shop Mitte"}}, packer_);
  ASSERT_EQ(first.status, 200) << describe(first);
  EXPECT_EQ(first.body["redemption"]["place"], "Shop Mitte");
  auto second =
      internal("POST", "/internal/v1/coupons/redeem", nlohmann::json{{"code", code}}, packer_);
  EXPECT_EQ(second.status, 409);
  EXPECT_EQ(second.code(), "coupon_already_redeemed");
  auto mine = pub("GET", "/v1/coupons", std::nullopt, holder);
  ASSERT_EQ(mine.body["items"].size(), 1u);
  EXPECT_FALSE(mine.body["items"][0]["redeemed_at"].is_null());

  // Eight tills try the same new coupon at the same moment: exactly one succeeds.
  auto contested =
      internal("POST", "/internal/v1/coupons", nlohmann::json{{"amount_cents", 500}}, manager_);
  const auto code2 = contested.body["code"].get<std::string>();
  std::atomic<int> ok{0}, refused{0}, other{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      auto r =
          internal("POST", "/internal/v1/coupons/redeem", nlohmann::json{{"code", code2}}, packer_);
      if (r.status == 200) {
        ++ok;
      } else if (r.status == 409 && r.code() == "coupon_already_redeemed") {
        ++refused;
      } else {
        ++other;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 1);
  EXPECT_EQ(refused.load(), 7);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(count("SELECT count(*) FROM coupon_redemptions"), 2);
  // Expired and unknown codes.
  auto short_lived = internal("POST", "/internal/v1/coupons",
                              nlohmann::json{{"percent_off", 5}, {"valid_days", 1}}, manager_);
  clock_.advance(25h);
  packer_ = staff_token({Role::kPacker});
  manager_ = staff_token({Role::kManager});
  EXPECT_EQ(internal("POST", "/internal/v1/coupons/redeem",
                     nlohmann::json{{"code", short_lived.body["code"]}}, packer_)
                .code(),
            "coupon_expired");
  EXPECT_EQ(internal("POST", "/internal/v1/coupons/redeem",
                     nlohmann::json{{"code", "RCC-NOSUCHCODE"}}, packer_)
                .status,
            404);
  EXPECT_EQ(internal("POST", "/internal/v1/coupons",
                     nlohmann::json{{"percent_off", 5}, {"amount_cents", 5}}, manager_)
                .status,
            400);
  auto listed = internal("GET", "/internal/v1/coupons?customer_id=" + std::to_string(cid),
                         std::nullopt, manager_);
  ASSERT_EQ(listed.body["items"].size(), 1u);
  EXPECT_EQ(listed.body["items"][0]["redemption"]["place"], "Shop Mitte");
}

TEST_F(ManagementTest, CoinBalanceIsAlwaysTheSumOfItsRecords) {
  std::int64_t cid = 0;
  const auto holder = customer("coins", &cid);
  const auto path = "/internal/v1/customers/" + std::to_string(cid) + "/coins";
  ASSERT_EQ(
      internal("POST", path, nlohmann::json{{"delta", 50}, {"reason", "welcome"}}, manager_).status,
      201);
  auto debit =
      internal("POST", path, nlohmann::json{{"delta", -20}, {"reason", "correction"}}, manager_);
  ASSERT_EQ(debit.status, 201);
  EXPECT_EQ(debit.body["balance"], 30);
  auto overdraw = internal("POST", path, nlohmann::json{{"delta", -31}, {"reason", "x"}}, manager_);
  EXPECT_EQ(overdraw.status, 409);
  EXPECT_EQ(overdraw.code(), "insufficient_coins");
  // Two simultaneous debits of the whole balance: one passes, the balance never goes negative.
  std::atomic<int> ok{0};
  std::thread a([&] {
    if (internal("POST", path, nlohmann::json{{"delta", -30}, {"reason", "a"}}, manager_).status ==
        201) {
      ++ok;
    }
  });
  std::thread b([&] {
    if (internal("POST", path, nlohmann::json{{"delta", -30}, {"reason", "b"}}, manager_).status ==
        201) {
      ++ok;
    }
  });
  a.join();
  b.join();
  EXPECT_EQ(ok.load(), 1);
  // A purchase adds its record too.
  auto r = buy(holder, {listed_product("Tee", 1250)});
  ASSERT_EQ(r.status, 201);
  const auto order = r.body["id"].get<std::int64_t>();
  const auto shipping = pack(order);
  ASSERT_NE(shipping, 0);
  ASSERT_EQ(assign(shipping, delivery_id_).status, 200);
  auto task = get_task(shipping, delivery_);
  const int compartment = task.body["compartments"][0].get<int>();
  visit(compartment, TokenAction::kCourierLoad, task.body["token"]["token_id"].get<std::string>(),
        shipping);
  auto ready = pub("GET", "/v1/orders/" + std::to_string(order), std::nullopt, holder);
  visit(compartment, TokenAction::kPickup,
        ready.body["pickup"]["token"]["token_id"].get<std::string>(), order);

  auto coins = pub("GET", "/v1/coins", std::nullopt, holder);
  std::int64_t sum = 0;
  for (const auto& rec : coins.body["records"]) sum += rec["delta"].get<std::int64_t>();
  EXPECT_EQ(coins.body["balance"], sum);
  EXPECT_EQ(coins.body["balance"], 12);
  EXPECT_EQ(count("SELECT COALESCE(sum(delta), 0) FROM coin_ledger WHERE customer_id = " +
                  std::to_string(cid)),
            12);
  EXPECT_EQ(internal("GET", "/internal/v1/customers/" + std::to_string(cid), std::nullopt, manager_)
                .body["coin_balance"],
            12);
  EXPECT_EQ(
      internal("POST", path, nlohmann::json{{"delta", 0}, {"reason", "zero"}}, manager_).status,
      400);
}

TEST_F(ManagementTest, PersonalDataIsMaskedUnlessTheRolePermits) {
  auto reg = pub("POST", "/v1/customers",
                 nlohmann::json{{"email", "Alice.Smith@example.org"},
                                {"password", kPassword},
                                {"display_name", "Alice Smith"},
                                {"phone", "+49 170 1234567"}});
  ASSERT_EQ(reg.status, 201);
  const auto id = std::to_string(reg.body["id"].get<std::int64_t>());
  auto masked = internal("GET", "/internal/v1/customers/" + id, std::nullopt, manager_);
  ASSERT_EQ(masked.status, 200);
  EXPECT_EQ(masked.body["email"], "a***@example.org");
  EXPECT_EQ(masked.body["display_name"], "A***");
  EXPECT_EQ(masked.body["phone"], "***4567");
  EXPECT_TRUE(masked.body["masked"].get<bool>());
  EXPECT_EQ(masked.raw.find("Smith"), std::string::npos);
  const auto admin = staff_token({Role::kSuperAdmin});
  auto full = internal("GET", "/internal/v1/customers/" + id, std::nullopt, admin);
  EXPECT_EQ(full.body["email"], "alice.smith@example.org");
  EXPECT_EQ(full.body["phone"], "+49 170 1234567");
  // The list masks the same way; finding by exact email works for masked readers.
  auto found = internal("GET", "/internal/v1/customers?email=alice.smith@example.org", std::nullopt,
                        manager_);
  ASSERT_EQ(found.body["items"].size(), 1u);
  EXPECT_EQ(found.body["items"][0]["email"], "a***@example.org");
  // Managers cannot export or erase.
  EXPECT_EQ(
      internal("GET", "/internal/v1/customers/" + id + "/export", std::nullopt, manager_).status,
      403);
  EXPECT_EQ(
      internal("POST", "/internal/v1/customers/" + id + "/erase", std::nullopt, manager_).status,
      403);
}

TEST_F(ManagementTest, GdprExportAndEraseKeepFinancialRecordsConsistent) {
  std::int64_t cid = 0;
  const auto email = "gdpr" + std::to_string(customers_ + 1) + "@example.org";
  const auto token = customer("gdpr", &cid);
  const auto id = std::to_string(cid);
  const auto admin = staff_token({Role::kSuperAdmin});
  // Some history: a donation (cancelled), coins, an order that is still open.
  auto donation = create_donation(
      token, {{{"category", "tops"}, {"count", 1}, {"condition_notes", "call me at +49 170 555"}}});
  ASSERT_EQ(donation.status, 201);
  ASSERT_EQ(
      pub("POST",
          "/v1/donations/" + std::to_string(donation.body["id"].get<std::int64_t>()) + "/cancel",
          std::nullopt, token)
          .status,
      200);
  ASSERT_EQ(internal("POST", "/internal/v1/customers/" + id + "/coins",
                     nlohmann::json{{"delta", 25}, {"reason", "goodwill"}}, manager_)
                .status,
            201);
  auto order = buy(token, {listed_product("Cap", 1500, "accessories")});
  ASSERT_EQ(order.status, 201);
  const auto order_id = order.body["id"].get<std::int64_t>();

  auto exported = internal("GET", "/internal/v1/customers/" + id + "/export", std::nullopt, admin);
  ASSERT_EQ(exported.status, 200) << describe(exported);
  EXPECT_EQ(exported.body["customer"]["email"], email);
  EXPECT_EQ(exported.body["donations"].size(), 1u);
  EXPECT_EQ(exported.body["orders"].size(), 1u);
  EXPECT_EQ(exported.body["coins"]["balance"], 25);
  EXPECT_GE(exported.body["sessions"].size(), 1u);
  EXPECT_EQ(exported.raw.find("RC1:"), std::string::npos) << "no token texts in an export";
  // The customer can export their own data, nobody else's.
  auto self = pub("GET", "/v1/customers/" + id + "/export", std::nullopt, token);
  EXPECT_EQ(self.status, 200);
  EXPECT_EQ(self.body["customer"]["email"], email);
  EXPECT_EQ(pub("GET", "/v1/customers/" + id + "/export", std::nullopt, customer("other")).status,
            404);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action = 'customer.export' AND outcome = "
                  "'ok' AND target_id = '" +
                  id + "'"),
            1);

  // An open order blocks the erase and says which.
  auto blocked = internal("POST", "/internal/v1/customers/" + id + "/erase", std::nullopt, admin);
  EXPECT_EQ(blocked.status, 409);
  EXPECT_EQ(blocked.code(), "customer_has_open_orders");
  EXPECT_EQ(blocked.body["error"]["details"]["orders"], nlohmann::json({order_id}));
  ASSERT_EQ(
      pub("POST", "/v1/orders/" + std::to_string(order_id) + "/cancel", std::nullopt, token).status,
      200);
  const auto payments_before = count("SELECT count(*) FROM payments");
  const auto ledger_before = count("SELECT count(*) FROM coin_ledger");

  auto erased = internal("POST", "/internal/v1/customers/" + id + "/erase", std::nullopt, admin);
  ASSERT_EQ(erased.status, 200) << describe(erased);
  // Personal data is gone...
  auto row = query("SELECT email, display_name, phone, status FROM customers WHERE id = " + id);
  EXPECT_EQ(row[0][0].as<std::string>(), "erased-" + id + "@erased.invalid");
  EXPECT_EQ(row[0][1].as<std::string>(), "");
  EXPECT_TRUE(row[0][2].is_null());
  EXPECT_EQ(row[0][3].as<std::string>(), "disabled");
  EXPECT_EQ(count("SELECT count(*) FROM donation_items WHERE condition_notes <> ''"), 0);
  EXPECT_EQ(
      count("SELECT count(*) FROM sessions WHERE account_kind = 'customer' AND account_id = " + id +
            " AND (revoked_at IS NULL OR address IS NOT NULL)"),
      0);
  EXPECT_EQ(pub("GET", "/v1/coins", std::nullopt, token).status, 401) << "the session is revoked";
  auto login =
      pub("POST", "/v1/sessions", nlohmann::json{{"email", email}, {"password", kPassword}});
  EXPECT_EQ(login.status, 401);
  // ...while the orders, payments, refund and coins still add up.
  EXPECT_EQ(count("SELECT count(*) FROM payments"), payments_before);
  EXPECT_EQ(count("SELECT count(*) FROM coin_ledger"), ledger_before);
  auto after = internal("GET", "/internal/v1/customers/" + id + "/export", std::nullopt, admin);
  EXPECT_EQ(after.body["coins"]["balance"], 25);
  EXPECT_EQ(after.body["orders"][0]["refund"]["state"], "succeeded");
  EXPECT_FALSE(after.body["customer"]["erased_at"].is_null());
  EXPECT_EQ(after.raw.find(email), std::string::npos);
  EXPECT_EQ(internal("POST", "/internal/v1/customers/" + id + "/erase", std::nullopt, admin).code(),
            "already_erased");
  // The email can be registered again by someone new.
  EXPECT_EQ(register_customer(email) != 0, true);
}

// A webhook receiver that refuses the first delivery and accepts the rest.
class Receiver {
 public:
  Receiver() {
    server_.Post("/hooks/notify", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      bodies_.push_back(nlohmann::json::parse(req.body, nullptr, false));
      res.status = bodies_.size() == 1 ? 500 : 204;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(2ms);
  }
  ~Receiver() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hooks/notify"; }
  std::vector<nlohmann::json> bodies() {
    std::lock_guard lock(mu_);
    return bodies_;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<nlohmann::json> bodies_;
};

TEST_F(ManagementTest, NotificationsAreDeliveredAtLeastOnceThroughTheWebhook) {
  Receiver receiver;
  domain_overrides_ = {{"notifications", {{"sender", "webhook"}, {"webhook_url", receiver.url()}}}};
  restart_with_domain_config();
  std::int64_t cid = 0;
  const auto token = customer("notified", &cid);
  auto donation = create_donation(token, {{{"category", "tops"}, {"count", 1}}});
  ASSERT_EQ(donation.status, 201);
  // The reminder is written in the same transaction as its cause (the worker's expiry pass).
  clock_.advance(22h + 30min);
  auto pass = run_worker();
  EXPECT_EQ(pass.expiry_warnings, 1);
  EXPECT_EQ(pass.notifications_failed, 1);  // the receiver answered 500
  EXPECT_EQ(count("SELECT count(*) FROM notifications WHERE sent_at IS NULL AND attempts = 1"), 1);
  // Not retried before its back-off...
  EXPECT_EQ(run_worker().notifications_sent, 0);
  // ...then delivered and marked sent.
  clock_.advance(31s);
  EXPECT_EQ(run_worker().notifications_sent, 1);
  EXPECT_EQ(count("SELECT count(*) FROM notifications WHERE sent_at IS NOT NULL"), 1);
  EXPECT_EQ(run_worker().notifications_sent, 0);
  const auto bodies = receiver.bodies();
  ASSERT_EQ(bodies.size(), 2u);
  EXPECT_EQ(bodies[0]["id"], bodies[1]["id"]) << "a redelivery carries the same id";
  EXPECT_EQ(bodies[1]["kind"], "reservation_expiring");
  EXPECT_EQ(bodies[1]["recipient"]["kind"], "customer");
  EXPECT_EQ(bodies[1]["recipient"]["id"], cid);
  EXPECT_EQ(bodies[1]["payload"]["donation_id"], donation.body["id"]);
}

TEST_F(ManagementTest, EveryCustomerRouteNeedsACustomerSession) {
  // Every route of the public listener that is for customers refuses no token, a staff token
  // (valid only on the internal listener) and a bogus token alike.
  int checked = 0;
  for (const auto& r : controller_->router().routes()) {
    const auto& route = r->route;
    if (route.listener != Listener::kPublic || route.access.kind != Access::Kind::kCustomer) {
      continue;
    }
    std::string path = route.path;
    for (const char* name : {"{id}", "{customer_id}", "{box_id}", "{number}"}) {
      const auto pos = path.find(name);
      if (pos != std::string::npos) path.replace(pos, std::string(name).size(), "1");
    }
    const auto method = std::string(to_string(route.method));
    const std::optional<nlohmann::json> body =
        route.body == BodyKind::kNone ? std::nullopt : std::optional(nlohmann::json::object());
    for (const auto& token : {std::string(), manager_, std::string(64, 'a')}) {
      EXPECT_EQ(call(Listener::kPublic, method, path, body, token).status, 401)
          << method << " " << path;
    }
    ++checked;
  }
  EXPECT_GE(checked, 20);
}

TEST(DomainConfig, IsParsedStrictly) {
  EXPECT_TRUE(domain::parse_domain_config(nlohmann::json::object()).ok());
  auto typo = domain::parse_domain_config({{"donations", {{"reservation", 60}}}});
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.error().message.find("/donations/reservation"), std::string::npos);
  EXPECT_FALSE(
      domain::parse_domain_config({{"payments", {{"sandbox", true}, {"provider_url", "http://x"}}}})
          .ok());
  EXPECT_FALSE(domain::parse_domain_config({{"notifications", {{"sender", "webhook"}}}}).ok());
  EXPECT_FALSE(domain::parse_domain_config({{"collecting", {{"fill_percent", 0}}}}).ok());
  auto ok = domain::parse_domain_config(
      {{"collecting", {{"compartment_threshold", 5}}}, {"worker_interval_ms", 0}});
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->collecting.compartment_threshold, 5);
  EXPECT_EQ(ok->worker_interval.count(), 0);
}

}  // namespace
}  // namespace reclothes::controller::testing
