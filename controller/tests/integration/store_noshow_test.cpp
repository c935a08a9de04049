// The no-show store called directly (expire_pickups, and the box-event effects on_pickup and
// on_courier_collect in a transaction of the test's), against real PostgreSQL: a pickup the box
// journaled BEFORE the window ended but reported after the expiry (the box was offline) wins:
// the order completes, nothing is refunded and nobody collects the parcel.
#include "../../src/domain/store/noshow_store.h"
#include "../../src/domain/store/shared.h"
#include "domain_fixture.h"

namespace reclothes::controller::testing {
namespace {

class StoreNoShowTest : public DomainTest {
 protected:
  void SetUp() override {
    DomainTest::SetUp();
    add_fleet({"M", "M", "M", "L"});
    d_ = std::make_unique<domain::DomainContext>(domain::DomainContext{
        controller_->services(), config_.domain, worker_payments_, nullptr, nullptr});
  }
  void TearDown() override {
    d_.reset();
    DomainTest::TearDown();
  }

  template <typename F>
  auto in_tx(F&& fn) {
    std::optional<decltype(fn(std::declval<pqxx::work&>()))> out;
    auto st = controller_->db().with_transaction([&](pqxx::work& tx) -> Status {
      out.emplace(fn(tx));
      return ok_status();
    });
    EXPECT_TRUE(st.ok()) << st.error().to_string();
    return std::move(*out);
  }

  struct Ready {
    std::int64_t order = 0;
    std::int64_t product = 0;
    std::string customer;
    int compartment = 0;
    std::string token_id;
  };
  // A paid order the courier has loaded into a compartment (through the API and the box).
  Ready ready_order(const std::string& who) {
    Ready out;
    out.customer = customer(who);
    out.product = listed_product("Rain jacket " + who, 2500, "outerwear");
    auto r = buy(out.customer, {out.product});
    EXPECT_EQ(r.status, 201) << describe(r);
    if (r.status != 201) return out;
    out.order = r.body["id"].get<std::int64_t>();
    const auto shipping = pack(out.order);
    EXPECT_EQ(assign(shipping, delivery_id_).status, 200);
    auto task = get_task(shipping, delivery_);
    if (task.body["token"].is_null()) {
      ADD_FAILURE() << describe(task);
      return out;
    }
    out.compartment = task.body["compartments"][0].get<int>();
    visit(out.compartment, TokenAction::kCourierLoad,
          task.body["token"]["token_id"].get<std::string>(), shipping);
    const auto ready =
        pub("GET", "/v1/orders/" + std::to_string(out.order), std::nullopt, out.customer);
    EXPECT_EQ(ready.body["state"], "ready_for_pickup");
    out.token_id = ready.body["pickup"]["token"].value("token_id", "");
    return out;
  }

  std::string state(std::int64_t order) {
    return query("SELECT state FROM buying_orders WHERE id = " + std::to_string(order))[0][0]
        .as<std::string>();
  }
  std::int64_t until_ms(std::int64_t order) {
    return count(
        "SELECT (extract(epoch FROM pickup_until) * 1000)::bigint FROM buying_orders "
        "WHERE id = " +
        std::to_string(order));
  }

  // The box's access_completed of a token visit, journaled at at_ms.
  msg::Event access(const Ready& r, TokenAction action, const std::string& token_id,
                    std::int64_t order_ref, std::int64_t at_ms) {
    msg::Event e;
    e.kind = msg::EventKind::kAccessCompleted;
    e.seq = 1000;
    e.at_ms = at_ms;
    e.compartment = r.compartment;
    e.token_id = token_id;
    e.action = action;
    e.order_ref = static_cast<std::uint64_t>(order_ref);
    e.occupied = false;
    return e;
  }

  std::unique_ptr<domain::DomainContext> d_;
};

TEST_F(StoreNoShowTest, APickupJournaledBeforeTheExpiryButReportedLateWins) {
  const auto r = ready_order("offline");
  ASSERT_NE(r.order, 0);
  const auto until = until_ms(r.order);
  // The box is offline; the customer takes the parcel a minute before the window ends.
  const auto picked_up_at = until - 60 * 1000;
  clock_.advance(std::chrono::milliseconds(until - clock_.wall_ms() + 1000));

  // The controller does not know: the window ends and the order expires.
  auto expiries =
      in_tx([&](pqxx::work& tx) { return domain::expire_pickups(*d_, tx, clock_.wall_ms()); });
  ASSERT_EQ(expiries.expired, 1);
  ASSERT_EQ(expiries.revokes.size(), 1u);
  EXPECT_EQ(expiries.revokes[0].command.token_ids, std::vector<std::string>{r.token_id});
  ASSERT_EQ(state(r.order), "pickup_expired");
  const auto collecting =
      count("SELECT order_id FROM collecting_items WHERE source_kind = 'pickup' AND source_id = " +
            std::to_string(r.order));
  ASSERT_NE(collecting, 0);
  // A courier is already on the way with a token for that compartment (staff sessions last 12 h:
  // a manager and a courier of today).
  manager_ = staff_token({Role::kManager}, &manager_id_);
  delivery_ = staff_token({Role::kDelivery}, &delivery_id_);
  ASSERT_EQ(assign(collecting, delivery_id_).status, 200);
  const auto courier_token =
      query("SELECT token_id FROM internal_orders WHERE id = " + std::to_string(collecting))[0][0]
          .as<std::string>();

  // The box comes back and reports the pickup it journaled before the end.
  exec("DELETE FROM domain_config_dirty");
  const auto box = box_;
  auto applied = in_tx([&](pqxx::work& tx) {
    return domain::on_pickup(*d_, tx, BoxEventContext{box, clock_.wall_ms()},
                             access(r, TokenAction::kPickup, r.token_id, r.order, picked_up_at));
  });
  ASSERT_TRUE(applied.ok()) << applied.error().to_string();

  // The pickup wins: completed, sold, coins for the purchase, no refund.
  EXPECT_EQ(state(r.order), "completed");
  EXPECT_EQ(count("SELECT count(*) FROM buying_orders WHERE completed_at IS NOT NULL AND id = " +
                  std::to_string(r.order)),
            1);
  EXPECT_EQ(count("SELECT count(*) FROM payments WHERE kind = 'refund'"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM products WHERE status = 'sold' AND id = " +
                  std::to_string(r.product)),
            1);
  EXPECT_EQ(pub("GET", "/v1/coins", std::nullopt, r.customer).body["balance"], 25);
  // Nobody collects it: the collecting order is cancelled and empty, the courier's token
  // revoked (the box learns it with its config), the compartment free again.
  EXPECT_EQ(count("SELECT count(*) FROM collecting_items WHERE source_kind = 'pickup'"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM internal_orders WHERE state = 'cancelled' AND id = " +
                  std::to_string(collecting)),
            1);
  EXPECT_EQ(count("SELECT count(*) FROM revoked_tokens WHERE token_id = '" + courier_token + "'"),
            1);
  EXPECT_EQ(count("SELECT count(*) FROM domain_config_dirty WHERE box_id = '" + box_ + "'"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM compartment_holds"), 0);

  // The courier, who did not hear in time, opens the empty compartment anyway: nothing changes.
  auto late_collect = in_tx([&](pqxx::work& tx) {
    return domain::on_courier_collect(
        *d_, tx, BoxEventContext{box, clock_.wall_ms()},
        access(r, TokenAction::kCourierCollect, courier_token, collecting, clock_.wall_ms()));
  });
  ASSERT_TRUE(late_collect.ok());
  EXPECT_EQ(state(r.order), "completed");
  EXPECT_EQ(count("SELECT count(*) FROM payments WHERE kind = 'refund'"), 0);
  // And the worker's passes do not touch the completed order.
  run_worker();
  EXPECT_EQ(state(r.order), "completed");
  EXPECT_EQ(count("SELECT count(*) FROM payments WHERE kind = 'refund'"), 0);
}

TEST_F(StoreNoShowTest, ThePickupEventThroughTheBoxAfterTheExpiryCompletesTheOrder) {
  const auto r = ready_order("viabox");
  ASSERT_NE(r.order, 0);
  clock_.advance(std::chrono::milliseconds(until_ms(r.order) - clock_.wall_ms()));
  ASSERT_EQ(run_worker().expired_pickups, 1);
  ASSERT_EQ(state(r.order), "pickup_expired");
  // The journaled pickup batch arrives over MQTT (the real event path, box lock and all).
  visit(r.compartment, TokenAction::kPickup, r.token_id, r.order);
  EXPECT_EQ(state(r.order), "completed");
  EXPECT_EQ(count("SELECT count(*) FROM internal_orders WHERE kind = 'collecting' AND state = "
                  "'cancelled' AND trigger = 'no_show'"),
            1);
  EXPECT_EQ(count("SELECT count(*) FROM payments WHERE kind = 'refund'"), 0);
}

TEST_F(StoreNoShowTest, ExpiryLeavesAnOrderThatIsNotDueOrNotReadyAlone) {
  const auto r = ready_order("notdue");
  ASSERT_NE(r.order, 0);
  const auto until = until_ms(r.order);
  auto early = in_tx([&](pqxx::work& tx) { return domain::expire_pickups(*d_, tx, until - 1); });
  EXPECT_EQ(early.expired, 0);
  EXPECT_TRUE(early.revokes.empty());
  // Picked up in time: the window's end changes nothing.
  visit(r.compartment, TokenAction::kPickup, r.token_id, r.order);
  ASSERT_EQ(state(r.order), "completed");
  auto late = in_tx([&](pqxx::work& tx) { return domain::expire_pickups(*d_, tx, until + 1000); });
  EXPECT_EQ(late.expired, 0);
  EXPECT_EQ(state(r.order), "completed");
  EXPECT_EQ(count("SELECT count(*) FROM internal_orders WHERE trigger = 'no_show'"), 0);
}

}  // namespace
}  // namespace reclothes::controller::testing
