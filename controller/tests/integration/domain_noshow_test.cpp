// No-shows (issue 18, item 2) against real PostgreSQL and Mosquitto and the sandbox payment
// provider, with the ManualClock moved instead of sleeping through the pickup window: the
// reminders before the end (each once), the expiry at the end and not before (pickup token
// revoked at the box, a collecting order for the compartment, the customer told), the courier's
// collect under each policy (refund, restock), and two worker passes at once expiring an order
// once. The late-but-earlier pickup race is in store_noshow_test.cpp.
#include <thread>

#include "domain_fixture.h"

namespace reclothes::controller::testing {
namespace {

using namespace std::chrono_literals;

std::string refund_key(std::int64_t order) { return "order-" + std::to_string(order) + "-refund"; }

class NoShowTest : public DomainTest {
 protected:
  void SetUp() override {
    DomainTest::SetUp();
    add_fleet({"M", "M", "M", "L"});
  }

  // A paid order delivered into a compartment: ready_for_pickup.
  struct Ready {
    std::int64_t order = 0;
    std::int64_t product = 0;
    std::int64_t customer_id = 0;
    std::string customer;
    int compartment = 0;
    std::string token_id;
  };
  Ready ready_order(const std::string& who, std::int64_t price_cents = 2500) {
    Ready out;
    out.customer = customer(who, &out.customer_id);
    out.product = listed_product("Wool coat " + who, price_cents, "outerwear");
    auto r = buy(out.customer, {out.product});
    EXPECT_EQ(r.status, 201) << describe(r);
    if (r.status != 201) return out;
    out.order = r.body["id"].get<std::int64_t>();
    const auto shipping = pack(out.order);
    EXPECT_NE(shipping, 0);
    EXPECT_EQ(assign(shipping, delivery_id_).status, 200);
    auto task = get_task(shipping, delivery_);
    if (task.status != 200 || task.body["token"].is_null()) {
      ADD_FAILURE() << "no courier token: " << describe(task);
      return out;
    }
    out.compartment = task.body["compartments"][0].get<int>();
    visit(out.compartment, TokenAction::kCourierLoad,
          task.body["token"]["token_id"].get<std::string>(), shipping);
    auto ready = order_of(out);
    EXPECT_EQ(ready.body["state"], "ready_for_pickup") << describe(ready);
    if (ready.body["pickup"]["token"].is_object()) {
      out.token_id = ready.body["pickup"]["token"]["token_id"].get<std::string>();
    }
    return out;
  }

  Reply order_of(const Ready& r) {
    return pub("GET", "/v1/orders/" + std::to_string(r.order), std::nullopt, r.customer);
  }
  std::string state_of(const Ready& r) { return order_of(r).body.value("state", "?"); }

  // The window's end, as stored.
  std::int64_t until_ms(std::int64_t order) {
    return count(
        "SELECT (extract(epoch FROM pickup_until) * 1000)::bigint FROM buying_orders "
        "WHERE id = " +
        std::to_string(order));
  }
  // Moves the clock; staff sessions (12 h) do not outlive a pickup window, so the manager and
  // the courier log in again (as new accounts of the same roles).
  void advance_to(std::int64_t wall_ms) {
    ASSERT_GE(wall_ms, clock_.wall_ms());
    clock_.advance(std::chrono::milliseconds(wall_ms - clock_.wall_ms()));
    manager_ = staff_token({Role::kManager}, &manager_id_);
    delivery_ = staff_token({Role::kDelivery}, &delivery_id_);
  }

  std::int64_t notifications(std::int64_t customer_id, const std::string& kind) {
    return count(
        "SELECT count(*) FROM notifications WHERE recipient_kind = 'customer' AND "
        "recipient_id = " +
        std::to_string(customer_id) + " AND kind = '" + kind + "'");
  }

  // The no-show's collecting order (trigger no_show), or 0.
  std::int64_t collecting_of(std::int64_t order) {
    return count(
        "SELECT COALESCE(max(ci.order_id), 0) FROM collecting_items ci WHERE ci.source_kind = "
        "'pickup' AND ci.source_id = " +
        std::to_string(order));
  }

  // The courier takes the collecting order and empties the compartment at the box.
  void collect(std::int64_t collecting, int compartment) {
    ASSERT_EQ(assign(collecting, delivery_id_).status, 200);
    auto task = get_task(collecting, delivery_);
    ASSERT_EQ(task.status, 200) << describe(task);
    ASSERT_TRUE(task.body["token"].is_object()) << describe(task);
    visit(compartment, TokenAction::kCourierCollect,
          task.body["token"]["token_id"].get<std::string>(), collecting);
  }

  std::string product_status(std::int64_t product) {
    return query("SELECT status FROM products WHERE id = " + std::to_string(product))[0][0]
        .as<std::string>();
  }
};

TEST_F(NoShowTest, WindowCountsFromTheLoadAndRemindersGoOutOnceEach) {
  domain_overrides_ = {{"buying", {{"pickup_last_reminder_s", 3600}}}};
  restart_with_domain_config();
  const auto loaded_at = clock_.wall_ms();
  const auto r = ready_order("remindme");
  ASSERT_NE(r.order, 0);
  const auto until = until_ms(r.order);
  EXPECT_EQ(until, loaded_at + 72 * 3600 * 1000) << "72 h (the default) from the load";
  EXPECT_EQ(count("SELECT count(*) FROM buying_orders WHERE ready_at IS NOT NULL AND id = " +
                  std::to_string(r.order)),
            1);

  // Not yet: a second before the day-before mark.
  advance_to(until - 24 * 3600 * 1000 - 1000);
  EXPECT_EQ(run_worker().pickup_reminders, 0);
  // The first reminder at the mark, once.
  advance_to(until - 24 * 3600 * 1000);
  EXPECT_EQ(run_worker().pickup_reminders, 1);
  EXPECT_EQ(run_worker().pickup_reminders, 0);
  clock_.advance(2h);
  EXPECT_EQ(run_worker().pickup_reminders, 0);
  EXPECT_EQ(notifications(r.customer_id, "pickup_reminder"), 1);
  // The last one an hour before the end, once, and marked as the last.
  advance_to(until - 3600 * 1000);
  EXPECT_EQ(run_worker().pickup_reminders, 1);
  EXPECT_EQ(run_worker().pickup_reminders, 0);
  EXPECT_EQ(notifications(r.customer_id, "pickup_reminder"), 2);
  EXPECT_EQ(count("SELECT count(*) FROM notifications WHERE kind = 'pickup_reminder' AND "
                  "payload->>'last' = 'true' AND payload->>'reminder' = '2' AND "
                  "payload->>'policy' = 'refund'"),
            1);
  EXPECT_EQ(state_of(r), "ready_for_pickup");
}

TEST_F(NoShowTest, AWorkerThatWasDownSendsTheLatestReminderNotABurst) {
  domain_overrides_ = {{"buying", {{"pickup_last_reminder_s", 3600}}}};
  restart_with_domain_config();
  const auto r = ready_order("late");
  ASSERT_NE(r.order, 0);
  advance_to(until_ms(r.order) - 1800 * 1000);  // both marks passed unseen
  EXPECT_EQ(run_worker().pickup_reminders, 1);
  EXPECT_EQ(run_worker().pickup_reminders, 0);
  EXPECT_EQ(notifications(r.customer_id, "pickup_reminder"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM notifications WHERE kind = 'pickup_reminder' AND "
                  "payload->>'last' = 'true'"),
            1);
}

TEST_F(NoShowTest, ExpiresAtTheEndNotBeforeRevokesTheTokenAndMakesACollectingOrder) {
  const auto r = ready_order("noshow");
  ASSERT_NE(r.order, 0);
  ASSERT_FALSE(r.token_id.empty());
  const auto until = until_ms(r.order);

  // A second before the end: nothing happens.
  advance_to(until - 1000);
  EXPECT_EQ(run_worker().expired_pickups, 0);
  EXPECT_EQ(state_of(r), "ready_for_pickup");
  EXPECT_EQ(collecting_of(r.order), 0);
  EXPECT_EQ(count("SELECT count(*) FROM revoked_tokens WHERE token_id = '" + r.token_id + "'"), 0);

  // At the end: pickup_expired.
  advance_to(until);
  EXPECT_EQ(run_worker().expired_pickups, 1);
  auto expired = order_of(r);
  EXPECT_EQ(expired.body["state"], "pickup_expired") << describe(expired);
  EXPECT_TRUE(expired.body["pickup"]["token"].is_null()) << "the app no longer shows the code";
  EXPECT_EQ(
      pub("GET", "/v1/orders/" + std::to_string(r.order) + "/qr.png", std::nullopt, r.customer)
          .status,
      409)
      << "no QR code for an expired order";
  // The token is revoked at the box: a revoke command at once (the token expires at the window's
  // end, but a box whose clock lags, or that grants leeway, would still take it), and the box's
  // config no longer reserves the compartment for the pickup.
  auto cmd = wait_command([&](const msg::Command& c) {
    return c.op == msg::CommandOp::kRevoke && c.token_ids == std::vector<std::string>{r.token_id};
  });
  ASSERT_TRUE(cmd) << "no revoke command for " << r.token_id;
  EXPECT_EQ(cmd->reason.value_or(""), "pickup window ended");
  EXPECT_EQ(count("SELECT count(*) FROM revoked_tokens WHERE token_id = '" + r.token_id + "'"), 1);
  auto config = wait_config([&](const msg::Config& c) {
    return std::none_of(
        c.reservations.begin(), c.reservations.end(),
        [&](const msg::Reservation& res) { return res.compartment == r.compartment; });
  });
  EXPECT_TRUE(config) << "the box's config drops the pickup reservation";
  // A collecting order for that compartment, open for a courier.
  const auto collecting = collecting_of(r.order);
  ASSERT_NE(collecting, 0);
  auto task = get_task(collecting, manager_);
  ASSERT_EQ(task.status, 200) << describe(task);
  EXPECT_EQ(task.body["kind"], "collecting");
  EXPECT_EQ(task.body["state"], "open");
  EXPECT_EQ(task.body["trigger"], "no_show");
  EXPECT_EQ(task.body["box_id"], box_);
  EXPECT_EQ(task.body["compartments"], nlohmann::json({r.compartment}));
  EXPECT_EQ(task.body["items"][0]["source_kind"], "pickup");
  EXPECT_EQ(task.body["items"][0]["source_id"], r.order);
  // The compartment stays held until the courier has emptied it.
  EXPECT_EQ(
      count("SELECT count(*) FROM compartment_holds WHERE order_id = " + std::to_string(r.order) +
            " AND collecting_order_id = " + std::to_string(collecting)),
      1);
  // The customer is told, once.
  EXPECT_EQ(notifications(r.customer_id, "pickup_expired"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM notifications WHERE kind = 'pickup_expired' AND "
                  "payload->>'policy' = 'refund' AND (payload->>'amount_cents')::int = 2500"),
            1);
  // Nothing more on the next passes; the customer cannot cancel it any more.
  EXPECT_EQ(run_worker().expired_pickups, 0);
  clock_.advance(24h);
  EXPECT_EQ(run_worker().expired_pickups, 0);
  EXPECT_EQ(notifications(r.customer_id, "pickup_expired"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM box_commands WHERE op = 'revoke'"), 1);
  auto cancel =
      pub("POST", "/v1/orders/" + std::to_string(r.order) + "/cancel", std::nullopt, r.customer);
  EXPECT_EQ(cancel.status, 409);
  EXPECT_EQ(cancel.code(), "illegal_transition");
  EXPECT_NE(cancel.body["error"]["message"].get<std::string>().find("pickup_expired"),
            std::string::npos)
      << describe(cancel);
  // No reminder for an expired order.
  EXPECT_EQ(run_worker().pickup_reminders, 0);
}

TEST_F(NoShowTest, RefundPolicyRefundsInFullOnceTheCourierHasCollectedIt) {
  const auto r = ready_order("refundme", 2500);
  ASSERT_NE(r.order, 0);
  advance_to(until_ms(r.order));
  ASSERT_EQ(run_worker().expired_pickups, 1);
  const auto collecting = collecting_of(r.order);
  ASSERT_NE(collecting, 0);
  // Before the collect nothing is refunded.
  EXPECT_EQ(sandbox_->total_refunds(), 0);
  EXPECT_EQ(product_status(r.product), "reserved");

  collect(collecting, r.compartment);
  EXPECT_EQ(get_task(collecting, manager_).body["state"], "done");
  auto refunded = order_of(r);
  EXPECT_EQ(refunded.body["state"], "refunded") << describe(refunded);
  EXPECT_EQ(refunded.body["refund"]["amount_cents"], 2500);
  // The worker's next pass makes the refund (no request holds its first attempt).
  const auto pass = run_worker();
  EXPECT_EQ(pass.payments_settled, 1);
  EXPECT_EQ(order_of(r).body["refund"]["state"], "succeeded");
  EXPECT_EQ(sandbox_->refunds_for_key(refund_key(r.order)), 1);
  EXPECT_EQ(sandbox_->total_refunds(), 1);
  EXPECT_EQ(notifications(r.customer_id, "refund_issued"), 1);
  // The coat is back on sale, the compartment is free, no coins for an order never picked up.
  EXPECT_EQ(product_status(r.product), "available");
  EXPECT_EQ(count("SELECT count(*) FROM compartment_holds"), 0);
  EXPECT_EQ(pub("GET", "/v1/coins", std::nullopt, r.customer).body["balance"], 0);
  // Later passes refund nothing more.
  clock_.advance(1h);
  run_worker();
  EXPECT_EQ(sandbox_->total_refunds(), 1);
}

TEST_F(NoShowTest, RestockPolicyPutsTheProductBackOnSaleWithoutARefund) {
  domain_overrides_ = {{"buying", {{"no_show_policy", "restock"}}}};
  restart_with_domain_config();
  const auto r = ready_order("restockme", 4000);
  ASSERT_NE(r.order, 0);
  advance_to(until_ms(r.order));
  ASSERT_EQ(run_worker().expired_pickups, 1);
  EXPECT_EQ(count("SELECT count(*) FROM notifications WHERE kind = 'pickup_expired' AND "
                  "payload->>'policy' = 'restock'"),
            1);
  const auto collecting = collecting_of(r.order);
  ASSERT_NE(collecting, 0);
  collect(collecting, r.compartment);
  auto restocked = order_of(r);
  EXPECT_EQ(restocked.body["state"], "restocked") << describe(restocked);
  EXPECT_TRUE(restocked.body["refund"].is_null()) << "no refund payment";
  clock_.advance(1h);
  run_worker();
  EXPECT_EQ(sandbox_->total_refunds(), 0);
  EXPECT_EQ(count("SELECT count(*) FROM payments WHERE kind = 'refund'"), 0);
  EXPECT_EQ(notifications(r.customer_id, "refund_issued"), 0);
  EXPECT_EQ(product_status(r.product), "available");
  EXPECT_EQ(count("SELECT count(*) FROM compartment_holds"), 0);
  // Someone else can buy it now.
  EXPECT_EQ(pub("GET", "/v1/products/" + std::to_string(r.product)).status, 200) << "listed";
  auto again = buy(customer("nextbuyer"), {r.product});
  EXPECT_EQ(again.status, 201) << describe(again);
}

TEST_F(NoShowTest, TwoWorkerPassesAtOnceExpireEachOrderOnce) {
  std::vector<Ready> orders;
  for (int i = 0; i < 3; ++i) {
    orders.push_back(ready_order("race" + std::to_string(i)));
    ASSERT_NE(orders.back().order, 0);
  }
  std::int64_t last = 0;
  for (const auto& r : orders) last = std::max(last, until_ms(r.order));
  advance_to(last);
  // A second replica's worker beside the fixture's.
  domain::DomainWorker replica(
      controller_->services(), config_.domain, worker_payments_,
      std::make_shared<domain::LogNotificationSender>(controller_->services().log));
  int expired = 0;
  for (int round = 0; round < 3; ++round) {
    domain::DomainWorker::Pass a, b;
    std::thread t1([&] { a = run_worker(); });
    std::thread t2([&] {
      auto p = replica.run_once();
      EXPECT_TRUE(p.ok()) << p.error().to_string();
      if (p.ok()) b = *p;
    });
    t1.join();
    t2.join();
    // A pass that finds the box busy (the other replica holds it) leaves it to a later pass.
    expired += a.expired_pickups + b.expired_pickups;
  }
  EXPECT_EQ(expired, 3) << "each order expired by exactly one pass";
  for (const auto& r : orders) {
    EXPECT_EQ(state_of(r), "pickup_expired");
    EXPECT_EQ(notifications(r.customer_id, "pickup_expired"), 1);
    EXPECT_EQ(count("SELECT count(*) FROM collecting_items WHERE source_kind = 'pickup' AND "
                    "source_id = " +
                    std::to_string(r.order)),
              1);
  }
  EXPECT_EQ(count("SELECT count(*) FROM internal_orders WHERE kind = 'collecting' AND trigger = "
                  "'no_show'"),
            3);
  EXPECT_EQ(count("SELECT count(*) FROM box_commands WHERE op = 'revoke'"), 3);
  EXPECT_EQ(count("SELECT count(*) FROM revoked_tokens"), 3);
}

}  // namespace
}  // namespace reclothes::controller::testing
