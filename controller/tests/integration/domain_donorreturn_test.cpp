// Donor returns (issue 18 item 4) and coins that follow refunds (item 5) against real PostgreSQL
// and Mosquitto and the sandbox payment provider: a donor asks for a checked item back, staff
// approve (packing, shipping and pickup through the buying flow, reward coins taken back) or
// refuse; published and recycled items are refused; coins taken back beyond the balance become a
// debt the next credit pays off; a return's refund follows the grade and takes back the purchase
// coins.
#include "domain_fixture.h"

namespace reclothes::controller::testing {
namespace {

class DonorReturnTest : public DomainTest {
 protected:
  void SetUp() override {
    DomainTest::SetUp();
    add_fleet({"M", "M", "M", "L"});
  }

  std::string path_of(std::int64_t id) {
    return "/internal/v1/donor-returns/" + std::to_string(id);
  }

  Reply grade(std::int64_t checking, int item, const nlohmann::json& body) {
    return internal("POST",
                    "/internal/v1/orders/" + std::to_string(checking) + "/items/" +
                        std::to_string(item) + "/grade",
                    body, checker_);
  }

  // A donation of the items, deposited, collected and checked with the grades (publish gets a
  // title): its id.
  std::int64_t checked_donation(const std::string& donor, const nlohmann::json& items,
                                const std::vector<std::string>& grades) {
    auto created = create_donation(donor, items);
    EXPECT_EQ(created.status, 201) << describe(created);
    const auto id = created.body.value("id", std::int64_t{0});
    const int compartment = created.body.value("compartment", 0);
    visit(compartment, TokenAction::kDeposit, created.body["token"]["token_id"].get<std::string>(),
          id);
    auto collect =
        internal("POST", "/internal/v1/boxes/" + box_ + "/collect", std::nullopt, manager_);
    EXPECT_EQ(collect.status, 201) << describe(collect);
    const auto collecting = collect.body.value("id", std::int64_t{0});
    EXPECT_EQ(assign(collecting, delivery_id_).status, 200);
    visit(compartment, TokenAction::kCourierCollect,
          get_task(collecting, delivery_).body["token"]["token_id"].get<std::string>(), collecting);
    const auto checking = task_of("checking", id);
    EXPECT_NE(checking, 0);
    EXPECT_EQ(assign(checking, checker_id_).status, 200);
    for (std::size_t i = 0; i < grades.size(); ++i) {
      nlohmann::json body = {{"grade", grades[i]}};
      if (grades[i] == "publish") body["title"] = "Donated item " + std::to_string(i + 1);
      auto g = grade(checking, static_cast<int>(i + 1), body);
      EXPECT_EQ(g.status, 200) << describe(g);
    }
    return id;
  }

  Reply ask_back(const std::string& donor, std::int64_t donation, int item,
                 std::optional<std::int64_t> location = std::nullopt) {
    return pub(
        "POST",
        "/v1/donations/" + std::to_string(donation) + "/items/" + std::to_string(item) + "/return",
        nlohmann::json{{"location_id", location.value_or(location_)}, {"note", "mine"}}, donor);
  }

  std::int64_t product_of(std::int64_t donation, int item) {
    return count(
        "SELECT ci.product_id FROM checking_items ci JOIN donation_items di ON di.id = "
        "ci.donation_item_id WHERE di.donation_id = " +
        std::to_string(donation) + " AND di.position = " + std::to_string(item));
  }

  Reply coins(const std::string& token) { return pub("GET", "/v1/coins", std::nullopt, token); }

  Reply adjust(std::int64_t customer, int delta) {
    return internal("POST", "/internal/v1/customers/" + std::to_string(customer) + "/coins",
                    nlohmann::json{{"delta", delta}, {"reason", "test adjustment"}}, manager_);
  }

  // The ledger is the sum of its records and its running sum never dips below zero.
  void expect_ledger_sane(std::int64_t customer) {
    const auto c = std::to_string(customer);
    EXPECT_EQ(count("SELECT count(*) FROM (SELECT sum(delta) OVER (ORDER BY id) AS running FROM "
                    "coin_ledger WHERE customer_id = " +
                    c + ") s WHERE running < 0"),
              0)
        << "the balance went below zero";
  }

  // From paid to picked up: packing, shipping, the courier's load and the customer's pickup.
  void deliver_and_pick_up(std::int64_t order, const std::string& token) {
    const auto shipping = pack(order);
    ASSERT_NE(shipping, 0);
    ASSERT_EQ(assign(shipping, delivery_id_).status, 200);
    auto task = get_task(shipping, delivery_);
    ASSERT_TRUE(task.body["token"].is_object()) << describe(task);
    const int compartment = task.body["compartments"][0].get<int>();
    visit(compartment, TokenAction::kCourierLoad, task.body["token"]["token_id"].get<std::string>(),
          shipping);
    auto ready = pub("GET", "/v1/orders/" + std::to_string(order), std::nullopt, token);
    ASSERT_EQ(ready.body["state"], "ready_for_pickup") << describe(ready);
    visit(compartment, TokenAction::kPickup,
          ready.body["pickup"]["token"]["token_id"].get<std::string>(), order);
  }

  // A bought order picked up, returned through the box, collected and checked with the grades.
  void return_and_check(std::int64_t order, const std::string& token,
                        const std::vector<std::string>& grades) {
    auto ret = pub("POST", "/v1/orders/" + std::to_string(order) + "/return",
                   nlohmann::json{{"location_id", location_}}, token);
    ASSERT_EQ(ret.status, 200) << describe(ret);
    const int compartment = ret.body["return"]["compartment"].get<int>();
    visit(compartment, TokenAction::kReturn,
          ret.body["return"]["token"]["token_id"].get<std::string>(), order);
    auto collect =
        internal("POST", "/internal/v1/boxes/" + box_ + "/collect", std::nullopt, manager_);
    ASSERT_EQ(collect.status, 201) << describe(collect);
    const auto collecting = collect.body["id"].get<std::int64_t>();
    ASSERT_EQ(assign(collecting, delivery_id_).status, 200);
    visit(compartment, TokenAction::kCourierCollect,
          get_task(collecting, delivery_).body["token"]["token_id"].get<std::string>(), collecting);
    const auto checking = task_of("checking", order);
    ASSERT_NE(checking, 0);
    ASSERT_EQ(assign(checking, checker_id_).status, 200);
    for (std::size_t i = 0; i < grades.size(); ++i) {
      auto g = grade(checking, static_cast<int>(i + 1), {{"grade", grades[i]}});
      ASSERT_EQ(g.status, 200) << describe(g);
    }
  }
};

TEST_F(DonorReturnTest, ADonorGetsAnItemBackFromRequestToPickup) {
  std::int64_t donor_id = 0;
  const auto donor = customer("donor", &donor_id);
  // Two shirts and one pair of trousers, both published: 30 coins.
  const auto donation = checked_donation(
      donor, {{{"category", "tops"}, {"count", 2}}, {{"category", "bottoms"}, {"count", 1}}},
      {"publish", "publish"});
  ASSERT_EQ(coins(donor).body["balance"], 30);
  const auto product = product_of(donation, 1);

  auto asked = ask_back(donor, donation, 1);
  ASSERT_EQ(asked.status, 201) << describe(asked);
  EXPECT_EQ(asked.body["state"], "requested");
  EXPECT_EQ(asked.body["product_id"], product);
  EXPECT_EQ(asked.body["item_position"], 1);
  const auto request = asked.body["id"].get<std::int64_t>();
  // Asking twice is refused while the first request lives.
  auto twice = ask_back(donor, donation, 1);
  EXPECT_EQ(twice.status, 409);
  EXPECT_EQ(twice.code(), "already_requested");
  // The donor and staff see it.
  EXPECT_EQ(pub("GET", "/v1/donor-returns", std::nullopt, donor).body["items"].size(), 1u);
  auto listed =
      internal("GET", "/internal/v1/donor-returns?state=requested", std::nullopt, manager_);
  ASSERT_EQ(listed.status, 200) << describe(listed);
  ASSERT_EQ(listed.body["items"].size(), 1u);
  EXPECT_EQ(listed.body["items"][0]["id"], request);

  auto approved = internal("POST", path_of(request) + "/approve", std::nullopt, manager_);
  ASSERT_EQ(approved.status, 200) << describe(approved);
  EXPECT_EQ(approved.body["state"], "approved");
  EXPECT_EQ(approved.body["coins_taken"], 20);
  EXPECT_EQ(approved.body["order_state"], "paid");
  const auto order = approved.body["order_id"].get<std::int64_t>();
  // The reward coins of the two shirts are taken back; the trousers' stay.
  auto after = coins(donor);
  EXPECT_EQ(after.body["balance"], 10);
  EXPECT_EQ(after.body["debt"], 0);
  EXPECT_EQ(count("SELECT count(*) FROM coin_ledger WHERE reason = 'donor_return' AND delta = -20 "
                  "AND ref_id = " +
                  std::to_string(request)),
            1);
  EXPECT_EQ(count("SELECT count(*) FROM notifications WHERE kind = 'donor_return_approved' AND "
                  "recipient_id = " +
                  std::to_string(donor_id)),
            1);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action = 'donor_return.approve' AND "
                  "outcome = 'ok' AND before->>'state' = 'requested' AND after->>'state' = "
                  "'approved' AND target_id = '" +
                  std::to_string(request) + "'"),
            1);
  // Approving twice is an illegal transition.
  auto again = internal("POST", path_of(request) + "/approve", std::nullopt, manager_);
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(again.code(), "illegal_transition");
  EXPECT_EQ(again.body["error"]["details"]["from"], "approved");

  // The buying flow's machinery: a free order of kind donor_return, reserved product.
  auto o = pub("GET", "/v1/orders/" + std::to_string(order), std::nullopt, donor);
  ASSERT_EQ(o.status, 200) << describe(o);
  EXPECT_EQ(o.body["kind"], "donor_return");
  EXPECT_EQ(o.body["total_cents"], 0);
  EXPECT_TRUE(o.body["payment"].is_null());
  EXPECT_EQ(count("SELECT count(*) FROM products WHERE status = 'reserved' AND id = " +
                  std::to_string(product)),
            1);
  // Not cancelled or returned like a purchase.
  auto cancel = pub("POST", "/v1/orders/" + std::to_string(order) + "/cancel", std::nullopt, donor);
  EXPECT_EQ(cancel.status, 409);
  EXPECT_EQ(cancel.code(), "donor_return_order");

  ASSERT_NO_FATAL_FAILURE(deliver_and_pick_up(order, donor));
  auto done = pub("GET", "/v1/orders/" + std::to_string(order), std::nullopt, donor);
  EXPECT_EQ(done.body["state"], "completed");
  // No purchase coins for a donor return; the product is out of stock for good.
  EXPECT_EQ(coins(donor).body["balance"], 10);
  EXPECT_EQ(count("SELECT count(*) FROM products WHERE status = 'withdrawn' AND id = " +
                  std::to_string(product)),
            1);
  EXPECT_EQ(count("SELECT count(*) FROM payments"), 0);
  EXPECT_EQ(pub("GET", "/v1/donor-returns", std::nullopt, donor).body["items"][0]["order_state"],
            "completed");
  expect_ledger_sane(donor_id);
}

TEST_F(DonorReturnTest, StaffRefuseWithAReasonAndTheDonorIsTold) {
  std::int64_t donor_id = 0;
  const auto donor = customer("refused", &donor_id);
  const auto donation =
      checked_donation(donor, {{{"category", "tops"}, {"count", 1}}}, {"publish"});
  auto asked = ask_back(donor, donation, 1);
  ASSERT_EQ(asked.status, 201) << describe(asked);
  const auto request = asked.body["id"].get<std::int64_t>();
  // A reason is required.
  auto bare = internal("POST", path_of(request) + "/refuse", nlohmann::json::object(), manager_);
  EXPECT_EQ(bare.status, 400);
  auto refused =
      internal("POST", path_of(request) + "/refuse",
               nlohmann::json{{"reason", "already photographed for the shop"}}, manager_);
  ASSERT_EQ(refused.status, 200) << describe(refused);
  EXPECT_EQ(refused.body["state"], "refused");
  EXPECT_EQ(refused.body["refusal_reason"], "already photographed for the shop");
  EXPECT_TRUE(refused.body["order_id"].is_null());
  EXPECT_EQ(count("SELECT count(*) FROM notifications WHERE kind = 'donor_return_refused' AND "
                  "recipient_id = " +
                  std::to_string(donor_id) +
                  " AND payload->>'reason' = 'already photographed for the shop'"),
            1);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action = 'donor_return.refuse' AND "
                  "reason = 'already photographed for the shop'"),
            1);
  // Nothing was taken back and no order made.
  EXPECT_EQ(coins(donor).body["balance"], 10);
  EXPECT_EQ(count("SELECT count(*) FROM buying_orders"), 0);
  // A refused request is final...
  auto approve = internal("POST", path_of(request) + "/approve", std::nullopt, manager_);
  EXPECT_EQ(approve.status, 409);
  EXPECT_EQ(approve.code(), "illegal_transition");
  EXPECT_EQ(approve.body["error"]["details"]["from"], "refused");
  // ...but the donor may ask again.
  EXPECT_EQ(ask_back(donor, donation, 1).status, 201);
  // Unknown requests are 404.
  EXPECT_EQ(internal("POST", path_of(999999) + "/approve", std::nullopt, manager_).status, 404);
}

TEST_F(DonorReturnTest, PublishedRecycledAndUncheckedItemsAreRefused) {
  const auto donor = customer("late");
  const auto donation = checked_donation(donor,
                                         {{{"category", "tops"}, {"count", 1}},
                                          {{"category", "tops"}, {"count", 1}},
                                          {{"category", "tops"}, {"count", 1}}},
                                         {"publish", "recycle", "publish"});
  // Item 1 is published for sale once a manager prices it.
  const auto p1 = product_of(donation, 1);
  ASSERT_EQ(internal("PUT", "/internal/v1/products/" + std::to_string(p1) + "/price",
                     nlohmann::json{{"price_cents", 1500}}, manager_)
                .status,
            200);
  auto published = ask_back(donor, donation, 1);
  EXPECT_EQ(published.status, 409);
  EXPECT_EQ(published.code(), "item_published");
  EXPECT_EQ(published.body["error"]["details"]["listed"], true);
  auto recycled = ask_back(donor, donation, 2);
  EXPECT_EQ(recycled.status, 409);
  EXPECT_EQ(recycled.code(), "item_recycled");
  // Item 3 is asked back, then priced before staff decide: the approval is refused.
  auto asked = ask_back(donor, donation, 3);
  ASSERT_EQ(asked.status, 201) << describe(asked);
  ASSERT_EQ(
      internal("PUT", "/internal/v1/products/" + std::to_string(product_of(donation, 3)) + "/price",
               nlohmann::json{{"price_cents", 900}}, manager_)
          .status,
      200);
  auto late = internal("POST", path_of(asked.body["id"].get<std::int64_t>()) + "/approve",
                       std::nullopt, manager_);
  EXPECT_EQ(late.status, 409);
  EXPECT_EQ(late.code(), "item_published");
  EXPECT_EQ(count("SELECT count(*) FROM buying_orders"), 0);
  EXPECT_EQ(coins(donor).body["balance"], 22);  // nothing taken back

  // A donation still in the box is not checked yet.
  auto fresh = create_donation(donor, {{{"category", "tops"}, {"count", 1}}});
  ASSERT_EQ(fresh.status, 201);
  const auto fresh_id = fresh.body["id"].get<std::int64_t>();
  auto unchecked = ask_back(donor, fresh_id, 1);
  EXPECT_EQ(unchecked.status, 409);
  EXPECT_EQ(unchecked.code(), "item_not_checked");
  EXPECT_EQ(unchecked.body["error"]["details"]["donation_state"], "reserved");
  // Unknown items, locations and other donors' donations.
  EXPECT_EQ(ask_back(donor, donation, 9).status, 404);
  EXPECT_EQ(ask_back(donor, donation, 3, 999999).status, 404);
  EXPECT_EQ(ask_back(customer("mallory"), donation, 3).status, 404);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE reason = 'not_owner'"), 1);
}

TEST_F(DonorReturnTest, CoinsTakenBackBeyondTheBalanceBecomeADebtTheNextCreditPaysOff) {
  std::int64_t donor_id = 0;
  const auto donor = customer("spender", &donor_id);
  const auto donation = checked_donation(
      donor, {{{"category", "tops"}, {"count", 2}}, {{"category", "tops"}, {"count", 1}}},
      {"publish", "publish"});
  ASSERT_EQ(coins(donor).body["balance"], 30);
  // The donor spends 25 of them.
  ASSERT_EQ(adjust(donor_id, -25).status, 201);
  auto asked = ask_back(donor, donation, 1);
  ASSERT_EQ(asked.status, 201);
  auto approved = internal("POST", path_of(asked.body["id"].get<std::int64_t>()) + "/approve",
                           std::nullopt, manager_);
  ASSERT_EQ(approved.status, 200) << describe(approved);
  EXPECT_EQ(approved.body["coins_taken"], 20);
  // 5 from the balance, 15 owed: never below zero.
  auto c = coins(donor);
  EXPECT_EQ(c.body["balance"], 0);
  EXPECT_EQ(c.body["debt"], 15);
  EXPECT_EQ(count("SELECT count(*) FROM coin_debts WHERE outstanding = 15 AND amount = 15 AND "
                  "customer_id = " +
                  std::to_string(donor_id)),
            1);
  // A staff credit of 10 pays off 10 first...
  ASSERT_EQ(adjust(donor_id, 10).status, 201);
  c = coins(donor);
  EXPECT_EQ(c.body["balance"], 0);
  EXPECT_EQ(c.body["debt"], 5);
  // ...and an earned credit (a purchase's coins) pays the rest; the remainder stays.
  const auto product = listed_product("Coat", 800, "outerwear");
  auto bought = buy(donor, {product});
  ASSERT_EQ(bought.status, 201) << describe(bought);
  ASSERT_NO_FATAL_FAILURE(deliver_and_pick_up(bought.body["id"].get<std::int64_t>(), donor));
  c = coins(donor);
  EXPECT_EQ(c.body["balance"], 3);  // 8 purchase coins, 5 repaid
  EXPECT_EQ(c.body["debt"], 0);
  EXPECT_EQ(count("SELECT count(*) FROM coin_debts WHERE settled_at IS NOT NULL"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM coin_ledger WHERE reason = 'debt_repayment'"), 2);
  // The balance is the sum of the records shown.
  std::int64_t sum = 0;
  for (const auto& r : c.body["records"]) sum += r["delta"].get<std::int64_t>();
  EXPECT_EQ(sum, 3);
  expect_ledger_sane(donor_id);
}

TEST_F(DonorReturnTest, RefundsFollowTheGradeAndTakeBackThePurchaseCoins) {
  domain_overrides_ = {
      {"buying", {{"return_refund_percent_by_grade", {{"publish", 80}, {"recycle", 30}}}}}};
  restart_with_domain_config();
  std::int64_t buyer_id = 0;
  const auto buyer = customer("returner", &buyer_id);
  const auto coat = listed_product("Coat", 5000, "outerwear");
  const auto shirt = listed_product("Shirt", 2000);
  auto bought = buy(buyer, {coat, shirt});
  ASSERT_EQ(bought.status, 201) << describe(bought);
  const auto order = bought.body["id"].get<std::int64_t>();
  ASSERT_NO_FATAL_FAILURE(deliver_and_pick_up(order, buyer));
  ASSERT_EQ(coins(buyer).body["balance"], 70);
  // The coat is resold (publish, 80 %), the shirt recycled (30 %): 4000 + 600.
  ASSERT_NO_FATAL_FAILURE(return_and_check(order, buyer, {"publish", "recycle"}));
  auto refunded = pub("GET", "/v1/orders/" + std::to_string(order), std::nullopt, buyer);
  EXPECT_EQ(refunded.body["state"], "refunded");
  EXPECT_EQ(refunded.body["refund"]["amount_cents"], 4600);
  EXPECT_EQ(refunded.body["refund"]["state"], "succeeded");
  EXPECT_EQ(sandbox_->total_refunds(), 1);
  // 24 euros stay paid: 24 coins stay, 46 go back.
  auto c = coins(buyer);
  EXPECT_EQ(c.body["balance"], 24);
  EXPECT_EQ(count("SELECT count(*) FROM coin_ledger WHERE reason = 'purchase_returned' AND "
                  "delta = -46 AND ref_id = " +
                  std::to_string(order)),
            1);
  expect_ledger_sane(buyer_id);
}

TEST_F(DonorReturnTest, AFullRefundTakesBackEveryPurchaseCoinAndRecordsTheShortfall) {
  std::int64_t buyer_id = 0;
  const auto buyer = customer("full", &buyer_id);
  const auto dress = listed_product("Dress", 3000, "dresses");
  auto bought = buy(buyer, {dress});
  ASSERT_EQ(bought.status, 201);
  const auto order = bought.body["id"].get<std::int64_t>();
  ASSERT_NO_FATAL_FAILURE(deliver_and_pick_up(order, buyer));
  ASSERT_EQ(coins(buyer).body["balance"], 30);
  ASSERT_EQ(adjust(buyer_id, -25).status, 201);  // spent
  // Default config: every grade refunds 100 %.
  ASSERT_NO_FATAL_FAILURE(return_and_check(order, buyer, {"recycle"}));
  auto refunded = pub("GET", "/v1/orders/" + std::to_string(order), std::nullopt, buyer);
  EXPECT_EQ(refunded.body["refund"]["amount_cents"], 3000);
  auto c = coins(buyer);
  EXPECT_EQ(c.body["balance"], 0);
  EXPECT_EQ(c.body["debt"], 25);
  EXPECT_EQ(count("SELECT count(*) FROM coin_ledger WHERE reason = 'purchase_returned' AND "
                  "delta = -5"),
            1);
  // A staff debit cannot dig into it either: the balance is 0.
  EXPECT_EQ(adjust(buyer_id, -1).code(), "insufficient_coins");
  expect_ledger_sane(buyer_id);
}

TEST_F(DonorReturnTest, ARefundOfNothingMakesNoPayment) {
  domain_overrides_ = {
      {"buying", {{"return_refund_percent_by_grade", {{"publish", 0}, {"recycle", 0}}}}}};
  restart_with_domain_config();
  const auto buyer = customer("zero");
  auto bought = buy(buyer, {listed_product("Socks", 500, "accessories")});
  ASSERT_EQ(bought.status, 201);
  const auto order = bought.body["id"].get<std::int64_t>();
  ASSERT_NO_FATAL_FAILURE(deliver_and_pick_up(order, buyer));
  ASSERT_NO_FATAL_FAILURE(return_and_check(order, buyer, {"recycle"}));
  auto refunded = pub("GET", "/v1/orders/" + std::to_string(order), std::nullopt, buyer);
  EXPECT_EQ(refunded.body["state"], "refunded");
  EXPECT_TRUE(refunded.body["refund"].is_null());
  EXPECT_EQ(sandbox_->total_refunds(), 0);
  // Everything stays paid, so the purchase coins stay.
  EXPECT_EQ(coins(buyer).body["balance"], 5);
}

TEST(DonorReturnConfig, RefundPercentagesByGradeAreParsedStrictly) {
  const auto with = [](nlohmann::json pct) {
    return domain::parse_domain_config({{"buying", {{"return_refund_percent_by_grade", pct}}}});
  };
  auto defaults = domain::parse_domain_config(nlohmann::json::object());
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->buying.return_refund_percent_by_grade.publish, 100);
  EXPECT_EQ(defaults->buying.return_refund_percent_by_grade.recycle, 100);
  auto set = with({{"publish", 80}, {"recycle", 0}});
  ASSERT_TRUE(set.ok()) << set.error().to_string();
  EXPECT_EQ(set->buying.return_refund_percent_by_grade.publish, 80);
  EXPECT_EQ(set->buying.return_refund_percent_by_grade.recycle, 0);
  auto too_much = with({{"publish", 101}});
  ASSERT_FALSE(too_much.ok());
  EXPECT_NE(too_much.error().message.find("/buying/return_refund_percent_by_grade/publish"),
            std::string::npos)
      << too_much.error().message;
  EXPECT_FALSE(with({{"recycle", -1}}).ok());
  auto unknown = with({{"damaged", 50}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("damaged"), std::string::npos) << unknown.error().message;
}

}  // namespace
}  // namespace reclothes::controller::testing
