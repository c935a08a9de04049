// Donating orders against real PostgreSQL and Mosquitto: box events arrive as real event
// batches on the box's events topic (FakeBox), the box's config and commands are read from the
// broker.
#include <set>

#include "domain_fixture.h"
#include "reclothes/common/token.h"

namespace reclothes::controller::testing {
namespace {

using namespace std::chrono_literals;

// Verifies a token as the box would, with the keys of the box's config.
std::optional<TokenClaims> verify_at_box(const msg::Config& config, const std::string& text,
                                         const std::string& box, int compartment,
                                         std::int64_t now_s) {
  TrustedKeys keys;
  for (const auto& k : config.keys) {
    auto added = keys.add(k.key_id, k.public_pem, k.retired);
    EXPECT_TRUE(added.ok());
  }
  TokenVerifier verifier(keys);
  auto r = verifier.verify(text, {box, static_cast<std::uint8_t>(compartment), now_s, 60});
  if (!r.ok()) {
    ADD_FAILURE() << "token refused: " << r.error().detail;
    return std::nullopt;
  }
  return r->claims;
}

class DonationTest : public DomainTest {
 protected:
  void SetUp() override {
    DomainTest::SetUp();
    add_fleet({"S", "M", "L"});
  }
};

TEST_F(DonationTest, WholeLifecycleFromReservationToReward) {
  std::int64_t alice_id = 0;
  const auto alice = customer("alice", &alice_id);
  // 2 tops (4 units) + 1 pair of shoes (4 units) = 8 units: an M compartment.
  auto created =
      create_donation(alice, {{{"category", "tops"}, {"count", 2}, {"condition_notes", "like new"}},
                              {{"category", "shoes"}, {"count", 1}}});
  ASSERT_EQ(created.status, 201) << describe(created);
  const auto d1 = created.body["id"].get<std::int64_t>();
  EXPECT_EQ(created.body["state"], "reserved");
  EXPECT_EQ(created.body["size_class"], "M");
  EXPECT_EQ(created.body["box_id"], box_);
  EXPECT_EQ(created.body["compartment"], 2);
  EXPECT_EQ(created.body["reserved_until"], ts(clock_.wall_ms() + 86400 * 1000));
  const auto token = created.body["token"]["token"].get<std::string>();
  const auto token_id = created.body["token"]["token_id"].get<std::string>();

  // The box learns the reservation through its retained config, and the token verifies there.
  auto config = wait_config([&](const msg::Config& c) {
    for (const auto& r : c.reservations) {
      if (r.compartment == 2 && r.order_ref == static_cast<std::uint64_t>(d1) &&
          r.action == TokenAction::kDeposit) {
        return true;
      }
    }
    return false;
  });
  ASSERT_TRUE(config);
  auto claims = verify_at_box(*config, token, box_, 2, clock_.wall_seconds());
  ASSERT_TRUE(claims);
  EXPECT_EQ(claims->action, TokenAction::kDeposit);
  EXPECT_EQ(claims->order_ref, static_cast<std::uint64_t>(d1));
  EXPECT_EQ(claims->token_id_hex(), token_id);
  // The QR code the app shows decodes to the same token.
  auto qr = pub("GET", "/v1/donations/" + std::to_string(d1) + "/qr.png", std::nullopt, alice);
  ASSERT_EQ(qr.status, 200);
  EXPECT_EQ(qr.header("Content-Type"), "image/png");
  EXPECT_EQ(decode_qr_png(qr.raw).text, token);

  // A second small donation takes the S compartment.
  auto second = create_donation(alice, {{{"category", "tops"}, {"count", 1}}});
  ASSERT_EQ(second.status, 201) << describe(second);
  const auto d2 = second.body["id"].get<std::int64_t>();
  EXPECT_EQ(second.body["compartment"], 1);

  // Deposits. After the first, one filled compartment: below the threshold of 2.
  visit(2, TokenAction::kDeposit, token_id, d1);
  EXPECT_EQ(pub("GET", "/v1/donations/" + std::to_string(d1), std::nullopt, alice).body["state"],
            "deposited");
  EXPECT_EQ(last_task("collecting"), 0);
  visit(1, TokenAction::kDeposit, second.body["token"]["token_id"].get<std::string>(), d2);
  auto d1_now = pub("GET", "/v1/donations/" + std::to_string(d1), std::nullopt, alice);
  EXPECT_EQ(d1_now.body["state"], "deposited");
  EXPECT_TRUE(d1_now.body["token"].is_null()) << "the used token is no longer shown";

  // Two filled compartments: a collecting order for delivery staff.
  const auto collecting = last_task("collecting");
  ASSERT_NE(collecting, 0);
  auto listed = internal("GET", "/internal/v1/orders?kind=collecting", std::nullopt, manager_);
  ASSERT_EQ(listed.status, 200) << describe(listed);
  ASSERT_EQ(listed.body["items"].size(), 1u);
  const auto& task = listed.body["items"][0];
  EXPECT_EQ(task["state"], "open");
  EXPECT_EQ(task["trigger"], "count");
  EXPECT_EQ(task["compartments"], nlohmann::json({1, 2}));
  EXPECT_EQ(task["location"]["address"], "Main St 1");
  const auto tracking = task["tracking_code"].get<std::string>();
  EXPECT_EQ(tracking.rfind("RC-", 0), 0u);
  // Not yet assigned: the courier does not see it.
  EXPECT_EQ(get_task(collecting, delivery_).status, 404);

  auto assigned = assign(collecting, delivery_id_);
  ASSERT_EQ(assigned.status, 200) << describe(assigned);
  EXPECT_EQ(assigned.body["state"], "assigned");
  EXPECT_TRUE(assigned.body["token"].is_null()) << "the manager does not get the courier's token";
  EXPECT_EQ(count("SELECT count(*) FROM notifications WHERE kind = 'collecting_assigned' AND "
                  "recipient_kind = 'staff' AND recipient_id = " +
                  std::to_string(delivery_id_)),
            1);
  auto mine = get_task(collecting, delivery_);
  ASSERT_EQ(mine.status, 200);
  const auto courier_token = mine.body["token"]["token"].get<std::string>();
  const auto courier_token_id = mine.body["token"]["token_id"].get<std::string>();
  auto courier_claims = verify_at_box(*config, courier_token, box_, 1, clock_.wall_seconds());
  ASSERT_TRUE(courier_claims);
  EXPECT_EQ(courier_claims->action, TokenAction::kCourierCollect);
  EXPECT_EQ(courier_claims->compartments, (std::vector<std::uint8_t>{1, 2}));
  // The sticker for the portable printer decodes to the tracking code.
  auto label = internal("GET", "/internal/v1/orders/" + std::to_string(collecting) + "/label.png",
                        std::nullopt, delivery_);
  ASSERT_EQ(label.status, 200);
  EXPECT_EQ(label.header("Content-Type"), "image/png");
  EXPECT_EQ(decode_qr_png(label.raw).text, tracking);

  // The courier empties both compartments with one token.
  visit(1, TokenAction::kCourierCollect, courier_token_id, collecting);
  EXPECT_EQ(get_task(collecting, delivery_).body["state"], "in_progress");
  visit(2, TokenAction::kCourierCollect, courier_token_id, collecting);
  EXPECT_EQ(get_task(collecting, manager_).body["state"], "done");
  EXPECT_EQ(pub("GET", "/v1/donations/" + std::to_string(d1), std::nullopt, alice).body["state"],
            "collected");
  EXPECT_EQ(count("SELECT count(*) FROM compartment_holds"), 0) << "both compartments are free";

  // Checking at the warehouse: one order per donation.
  const auto checking = task_of("checking", d1);
  ASSERT_NE(checking, 0);
  ASSERT_EQ(assign(checking, checker_id_).status, 200);
  const auto grade = [&](std::int64_t order, int item, const nlohmann::json& body) {
    return internal("POST",
                    "/internal/v1/orders/" + std::to_string(order) + "/items/" +
                        std::to_string(item) + "/grade",
                    body, checker_);
  };
  auto published =
      grade(checking, 1, {{"grade", "publish"}, {"title", "Two striped shirts"}, {"size", "M"}});
  ASSERT_EQ(published.status, 200) << describe(published);
  EXPECT_EQ(published.body["state"], "in_progress");
  const auto product = published.body["items"][0]["product_id"].get<std::int64_t>();
  // Unpriced: not listed for customers.
  EXPECT_EQ(pub("GET", "/v1/products/" + std::to_string(product)).status, 404);
  EXPECT_EQ(grade(checking, 1, {{"grade", "recycle"}}).code(), "already_graded");
  auto done = grade(checking, 2, {{"grade", "recycle"}});
  ASSERT_EQ(done.status, 200) << describe(done);
  EXPECT_EQ(done.body["state"], "done");

  // Reward: 2 published pieces x 10 + 1 recycled x 2 = 22 coins; the balance is the ledger sum.
  auto d1_done = pub("GET", "/v1/donations/" + std::to_string(d1), std::nullopt, alice);
  EXPECT_EQ(d1_done.body["state"], "completed");
  EXPECT_EQ(d1_done.body["reward"], nlohmann::json({{"kind", "coins"}, {"coins", 22}}));
  EXPECT_EQ(d1_done.body["items"][0]["grade"], "publish");
  auto coins = pub("GET", "/v1/coins", std::nullopt, alice);
  EXPECT_EQ(coins.body["balance"], 22);
  EXPECT_EQ(
      count("SELECT sum(delta) FROM coin_ledger WHERE customer_id = " + std::to_string(alice_id)),
      22);

  // A manager prices the product: now it is listed.
  ASSERT_EQ(internal("PUT", "/internal/v1/products/" + std::to_string(product) + "/price",
                     nlohmann::json{{"price_cents", 1500}}, manager_)
                .status,
            200);
  auto shop = pub("GET", "/v1/products");
  ASSERT_EQ(shop.body["items"].size(), 1u);
  EXPECT_EQ(shop.body["items"][0]["title"], "Two striped shirts");

  // The second donation is all recycled: an offline coupon instead of coins.
  const auto checking2 = task_of("checking", d2);
  ASSERT_EQ(assign(checking2, checker_id_).status, 200);
  ASSERT_EQ(grade(checking2, 1, {{"grade", "recycle"}}).status, 200);
  auto d2_done = pub("GET", "/v1/donations/" + std::to_string(d2), std::nullopt, alice);
  EXPECT_EQ(d2_done.body["reward"]["kind"], "coupon");
  auto coupons = pub("GET", "/v1/coupons", std::nullopt, alice);
  ASSERT_EQ(coupons.body["items"].size(), 1u);
  EXPECT_EQ(coupons.body["items"][0]["percent_off"], 10);
  EXPECT_EQ(coupons.body["items"][0]["code"], d2_done.body["reward"]["coupon_code"]);
  EXPECT_EQ(pub("GET", "/v1/coins", std::nullopt, alice).body["balance"], 22);
}

TEST_F(DonationTest, CancelBeforeDepositRevokesTheTokenAtTheBox) {
  const auto bob = customer("bob");
  auto created = create_donation(bob, {{{"category", "outerwear"}, {"count", 3}}});  // 18: L
  ASSERT_EQ(created.status, 201) << describe(created);
  const auto id = created.body["id"].get<std::int64_t>();
  const auto token_id = created.body["token"]["token_id"].get<std::string>();
  EXPECT_EQ(created.body["compartment"], 3);

  auto cancelled =
      pub("POST", "/v1/donations/" + std::to_string(id) + "/cancel", std::nullopt, bob);
  ASSERT_EQ(cancelled.status, 200) << describe(cancelled);
  EXPECT_EQ(cancelled.body["state"], "cancelled");
  EXPECT_TRUE(cancelled.body["token"].is_null());
  // The box is told at once (a revoke command) and by its config (revocation list, no
  // reservation), so the token is refused there.
  auto cmd = wait_command([&](const msg::Command& c) {
    return c.op == msg::CommandOp::kRevoke && c.token_ids == std::vector<std::string>{token_id};
  });
  EXPECT_TRUE(cmd) << "no revoke command for " << token_id;
  auto config = wait_config([&](const msg::Config& c) {
    return std::find(c.revoked_token_ids.begin(), c.revoked_token_ids.end(), token_id) !=
           c.revoked_token_ids.end();
  });
  ASSERT_TRUE(config);
  EXPECT_TRUE(config->reservations.empty());
  EXPECT_EQ(count("SELECT count(*) FROM compartment_holds"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM compartment_reservations"), 0);

  // The compartment can be reserved again right away.
  auto again = create_donation(bob, {{{"category", "outerwear"}, {"count", 3}}});
  ASSERT_EQ(again.status, 201);
  EXPECT_EQ(again.body["compartment"], 3);

  // Cancelling twice is an illegal transition, with the states in the error.
  auto twice = pub("POST", "/v1/donations/" + std::to_string(id) + "/cancel", std::nullopt, bob);
  EXPECT_EQ(twice.status, 409);
  EXPECT_EQ(twice.code(), "illegal_transition");
  EXPECT_EQ(twice.body["error"]["details"]["from"], "cancelled");
  EXPECT_EQ(twice.body["error"]["details"]["event"], "cancel");
  EXPECT_EQ(twice.body["error"]["message"], "cannot cancel a donating order that is cancelled");
}

TEST_F(DonationTest, ReservationExpiryFreesTheCompartment) {
  const auto carol = customer("carol");
  auto first = create_donation(carol, {{{"category", "outerwear"}, {"count", 3}}});  // L
  ASSERT_EQ(first.status, 201);
  const auto id = first.body["id"].get<std::int64_t>();
  const auto token_id = first.body["token"]["token_id"].get<std::string>();
  const auto reserved = wait_config([](const msg::Config& c) { return !c.reservations.empty(); });
  ASSERT_TRUE(reserved);
  // The only L compartment is taken: an L donation is refused for now.
  auto none = create_donation(carol, {{{"category", "outerwear"}, {"count", 4}}});
  EXPECT_EQ(none.status, 409);
  EXPECT_EQ(none.code(), "no_compartment_available");

  // Two hours before the end the donor is reminded, once.
  clock_.advance(22h + 1min);
  auto pass = run_worker();
  EXPECT_EQ(pass.expiry_warnings, 1);
  EXPECT_EQ(pass.expired_donations, 0);
  EXPECT_EQ(run_worker().expiry_warnings, 0);
  EXPECT_EQ(count("SELECT count(*) FROM notifications WHERE kind = 'reservation_expiring'"), 1);

  clock_.advance(2h);
  pass = run_worker();
  EXPECT_EQ(pass.expired_donations, 1);
  EXPECT_GE(pass.configs_published, 1);
  EXPECT_EQ(pub("GET", "/v1/donations/" + std::to_string(id), std::nullopt, carol).body["state"],
            "expired");
  EXPECT_EQ(count("SELECT count(*) FROM compartment_holds"), 0);
  // The box's config drops the reservation. The token is on the revocation list, which the
  // config carries only until the token's own expiry (now): after it the box refuses it anyway.
  auto config = wait_config([&](const msg::Config& c) {
    return c.reservations.empty() && c.revision > reserved->revision;
  });
  EXPECT_TRUE(config) << "the box's config drops the reservation";
  EXPECT_EQ(count("SELECT count(*) FROM revoked_tokens WHERE token_id = '" + token_id + "'"), 1);
  // The compartment is free again.
  auto later = create_donation(carol, {{{"category", "outerwear"}, {"count", 4}}});
  EXPECT_EQ(later.status, 201) << describe(later);
  EXPECT_EQ(later.body["compartment"], 3);
  // Expiring again does nothing.
  EXPECT_EQ(run_worker().expired_donations, 0);
}

TEST_F(DonationTest, ALateDepositAfterCancellationStillCounts) {
  const auto dan = customer("dan");
  auto created = create_donation(dan, {{{"category", "tops"}, {"count", 1}}});
  ASSERT_EQ(created.status, 201);
  const auto id = created.body["id"].get<std::int64_t>();
  ASSERT_EQ(
      pub("POST", "/v1/donations/" + std::to_string(id) + "/cancel", std::nullopt, dan).status,
      200);
  // The box was offline and let the donor in before it learned of the cancellation.
  visit(1, TokenAction::kDeposit, created.body["token"]["token_id"].get<std::string>(), id);
  EXPECT_EQ(pub("GET", "/v1/donations/" + std::to_string(id), std::nullopt, dan).body["state"],
            "deposited");
  EXPECT_EQ(count("SELECT count(*) FROM compartment_holds WHERE phase = 'filled' AND order_id = " +
                  std::to_string(id)),
            1);
}

TEST_F(DonationTest, CollectingIsTriggeredByFillLevelAndBySchedule) {
  const auto eve = customer("eve");
  auto a = create_donation(eve, {{{"category", "tops"}, {"count", 1}}});
  ASSERT_EQ(a.status, 201);
  visit(1, TokenAction::kDeposit, a.body["token"]["token_id"].get<std::string>(),
        a.body["id"].get<std::int64_t>());
  EXPECT_EQ(last_task("collecting"), 0);
  // A fill-level report under the threshold changes nothing; at 90 % a collecting order is made.
  msg::Event fill;
  fill.kind = msg::EventKind::kFillLevel;
  fill.compartment = 1;
  fill.fill_percent = 75;
  publish_and_ack({fill});
  EXPECT_EQ(last_task("collecting"), 0);
  fill.fill_percent = 90;
  publish_and_ack({fill});
  const auto by_fill = last_task("collecting");
  ASSERT_NE(by_fill, 0);
  EXPECT_EQ(get_task(by_fill, manager_).body["trigger"], "fill_level");

  // Another lone deposit waits until the schedule picks it up (max_wait 48 h).
  auto b = create_donation(eve, {{{"category", "shoes"}, {"count", 1}}});
  ASSERT_EQ(b.status, 201);
  visit(b.body["compartment"].get<int>(), TokenAction::kDeposit,
        b.body["token"]["token_id"].get<std::string>(), b.body["id"].get<std::int64_t>());
  EXPECT_EQ(last_task("collecting"), by_fill);
  clock_.advance(47h);
  EXPECT_EQ(run_worker().collecting_created, 0);
  clock_.advance(1h);
  EXPECT_EQ(run_worker().collecting_created, 1);
  const auto by_schedule = last_task("collecting");
  // Two days later the staff sessions of the morning have expired: log in again.
  manager_ = staff_token({Role::kManager});
  auto t = get_task(by_schedule, manager_);
  EXPECT_EQ(t.body["trigger"], "schedule");
  EXPECT_EQ(t.body["compartments"], nlohmann::json({b.body["compartment"]}));
  // A manager can also ask for one; with nothing left to collect it says so.
  auto manual = internal("POST", "/internal/v1/boxes/" + box_ + "/collect", std::nullopt, manager_);
  EXPECT_EQ(manual.status, 409);
  EXPECT_EQ(manual.code(), "nothing_to_collect");
}

TEST_F(DonationTest, ReassigningACourierRevokesTheFirstToken) {
  const auto fay = customer("fay");
  for (int i = 0; i < 2; ++i) {
    auto d = create_donation(fay, {{{"category", "tops"}, {"count", 1}}});
    ASSERT_EQ(d.status, 201);
    visit(d.body["compartment"].get<int>(), TokenAction::kDeposit,
          d.body["token"]["token_id"].get<std::string>(), d.body["id"].get<std::int64_t>());
  }
  const auto task = last_task("collecting");
  ASSERT_NE(task, 0);
  // Only delivery staff can take a collecting order.
  auto wrong = assign(task, checker_id_);
  EXPECT_EQ(wrong.status, 409);
  EXPECT_EQ(wrong.code(), "assignee_not_eligible");
  ASSERT_EQ(assign(task, delivery_id_).status, 200);
  const auto first_token = get_task(task, delivery_).body["token"]["token_id"].get<std::string>();
  std::int64_t other_id = 0;
  const auto other = staff_token({Role::kDelivery}, &other_id);
  ASSERT_EQ(assign(task, other_id).status, 200);
  EXPECT_EQ(get_task(task, delivery_).status, 404) << "no longer theirs";
  const auto second_token = get_task(task, other).body["token"]["token_id"].get<std::string>();
  EXPECT_NE(first_token, second_token);
  EXPECT_TRUE(wait_command([&](const msg::Command& c) {
    return c.op == msg::CommandOp::kRevoke && c.token_ids == std::vector<std::string>{first_token};
  }));
  // The assignment is audited with before and after.
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action = 'internal_order.assign' AND "
                  "target_id = '" +
                  std::to_string(task) + "' AND outcome = 'ok'"),
            2);
}

TEST_F(DonationTest, CourierQrAndProblemReportsAreTheAssigneesOnly) {
  const auto gus = customer("gus");
  for (int i = 0; i < 2; ++i) {
    auto d = create_donation(gus, {{{"category", "tops"}, {"count", 1}}});
    ASSERT_EQ(d.status, 201);
    visit(d.body["compartment"].get<int>(), TokenAction::kDeposit,
          d.body["token"]["token_id"].get<std::string>(), d.body["id"].get<std::int64_t>());
  }
  const auto task = last_task("collecting");
  ASSERT_NE(task, 0);
  const auto base = "/internal/v1/orders/" + std::to_string(task);
  // The console's list filters: box, location and creation time (the clock is the test's).
  const auto ids = [&](const std::string& query) {
    auto r = internal("GET", "/internal/v1/orders?" + query, std::nullopt, manager_);
    EXPECT_EQ(r.status, 200) << query << ": " << describe(r);
    std::set<std::int64_t> out;
    for (const auto& o : r.body["items"]) out.insert(o["id"].get<std::int64_t>());
    return out;
  };
  EXPECT_TRUE(ids("kind=collecting&box_id=" + box_).contains(task));
  EXPECT_TRUE(ids("box_id=no-such-box").empty());
  EXPECT_TRUE(ids("location_id=" + std::to_string(location_)).contains(task));
  EXPECT_TRUE(ids("location_id=" + std::to_string(location_ + 1000)).empty());
  const auto created = get_task(task, manager_).body["created_at"].get<std::string>();
  const auto created_ms = *parse_ts(created);
  EXPECT_TRUE(ids("created_from=" + created + "&created_to=" + ts(created_ms + 1)).contains(task));
  EXPECT_FALSE(ids("created_from=" + ts(created_ms + 1)).contains(task));
  EXPECT_FALSE(ids("created_to=" + created).contains(task)) << "created_to is exclusive";
  auto bad_time =
      internal("GET", "/internal/v1/orders?created_to=yesterday", std::nullopt, manager_);
  EXPECT_EQ(bad_time.status, 400);
  EXPECT_EQ(bad_time.code(), "invalid_query");
  // Not assigned yet: nobody has a courier token to show.
  auto unassigned = internal("GET", base + "/courier-qr.png", std::nullopt, manager_);
  EXPECT_EQ(unassigned.status, 403) << describe(unassigned);
  EXPECT_EQ(unassigned.code(), "not_assignee");
  ASSERT_EQ(assign(task, delivery_id_).status, 200);
  const auto token = get_task(task, delivery_).body["token"]["token"].get<std::string>();

  // The assignee's QR code decodes to their courier token, and is not cached.
  auto qr = internal("GET", base + "/courier-qr.png", std::nullopt, delivery_);
  ASSERT_EQ(qr.status, 200) << describe(qr);
  EXPECT_EQ(qr.header("Content-Type"), "image/png");
  EXPECT_EQ(qr.header("Cache-Control"), "no-store");
  EXPECT_EQ(decode_qr_png(qr.raw).text, token);
  // The manager reads every order but never gets the courier's credential.
  auto manager_qr = internal("GET", base + "/courier-qr.png", std::nullopt, manager_);
  EXPECT_EQ(manager_qr.status, 403);
  EXPECT_EQ(manager_qr.code(), "not_assignee");
  // Another courier does not even see the order.
  const auto other = staff_token({Role::kDelivery});
  EXPECT_EQ(internal("GET", base + "/courier-qr.png", std::nullopt, other).status, 404);

  // A jammed door reported by the courier is a fault of the box, audited.
  auto jammed = internal("POST", base + "/problems",
                         nlohmann::json{{"problem", "jammed_door"},
                                        {"compartment", 1},
                                        {"note", "the latch clicks, the door stays shut"}},
                         delivery_);
  ASSERT_EQ(jammed.status, 201) << describe(jammed);
  EXPECT_EQ(jammed.body["kind"], "courier_report");
  EXPECT_EQ(jammed.body["box_id"], box_);
  EXPECT_EQ(jammed.body["compartment"], 1);
  EXPECT_EQ(jammed.body["state"], "open");
  EXPECT_EQ(jammed.body["detail"],
            "door jammed at compartment 1: the latch clicks, the door stays shut");
  const auto fault_id = jammed.body["id"].get<std::int64_t>();
  auto listed = internal("GET", "/internal/v1/faults?kind=courier_report", std::nullopt, manager_);
  ASSERT_EQ(listed.status, 200) << describe(listed);
  ASSERT_EQ(listed.body["items"].size(), 1u);
  EXPECT_EQ(listed.body["items"][0]["id"], fault_id);
  EXPECT_EQ(count("SELECT count(*) FROM box_faults WHERE id = " + std::to_string(fault_id) +
                  " AND details->>'problem' = 'jammed_door' AND (details->>'order_id')::bigint = " +
                  std::to_string(task) +
                  " AND (details->>'reported_by')::bigint = " + std::to_string(delivery_id_)),
            1);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action = 'internal_order.report_problem' "
                  "AND target_id = '" +
                  std::to_string(task) + "' AND outcome = 'ok' AND after->>'fault_id' = '" +
                  std::to_string(fault_id) + "'"),
            1);

  // Refusals: not the assignee, a compartment not the order's, an unknown problem, "other"
  // without saying what.
  auto by_manager =
      internal("POST", base + "/problems", nlohmann::json{{"problem", "missing_bag"}}, manager_);
  EXPECT_EQ(by_manager.status, 403);
  EXPECT_EQ(by_manager.code(), "not_assignee");
  auto wrong_compartment =
      internal("POST", base + "/problems",
               nlohmann::json{{"problem", "missing_bag"}, {"compartment", 9}}, delivery_);
  EXPECT_EQ(wrong_compartment.status, 400);
  EXPECT_EQ(wrong_compartment.body["error"]["details"]["field"], "/compartment");
  auto unknown =
      internal("POST", base + "/problems", nlohmann::json{{"problem", "on_fire"}}, delivery_);
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(unknown.body["error"]["details"]["field"], "/problem");
  auto vague =
      internal("POST", base + "/problems", nlohmann::json{{"problem", "other"}}, delivery_);
  EXPECT_EQ(vague.status, 400);
  EXPECT_EQ(vague.body["error"]["details"]["field"], "/note");
  EXPECT_EQ(count("SELECT count(*) FROM box_faults WHERE kind = 'courier_report'"), 1)
      << "no refused report opened a fault";

  // Once the courier has emptied both compartments, the token and its QR code are gone, and
  // problems go to the manager instead.
  const auto token_id = get_task(task, delivery_).body["token"]["token_id"].get<std::string>();
  visit(1, TokenAction::kCourierCollect, token_id, task);
  visit(2, TokenAction::kCourierCollect, token_id, task);
  ASSERT_EQ(get_task(task, delivery_).body["state"], "done");
  auto after = internal("GET", base + "/courier-qr.png", std::nullopt, delivery_);
  EXPECT_EQ(after.status, 409);
  EXPECT_EQ(after.code(), "no_courier_token");
  auto late =
      internal("POST", base + "/problems", nlohmann::json{{"problem", "missing_bag"}}, delivery_);
  EXPECT_EQ(late.status, 409);
  EXPECT_EQ(late.code(), "order_finished");
}

TEST_F(DonationTest, BadRequestsAreRefusedClearly) {
  const auto gus = customer("gus");
  EXPECT_EQ(create_donation(gus, nlohmann::json::array()).code(), "invalid_field");
  auto bad_category = create_donation(gus, {{{"category", "hats"}, {"count", 1}}});
  EXPECT_EQ(bad_category.status, 400);
  EXPECT_EQ(bad_category.body["error"]["details"]["field"], "/items/0/category");
  auto too_big = create_donation(gus, {{{"category", "outerwear"}, {"count", 9}}});
  EXPECT_EQ(too_big.status, 400);
  EXPECT_EQ(too_big.code(), "donation_too_large");
  auto unknown_location = pub(
      "POST", "/v1/donations",
      nlohmann::json{{"location_id", 999999}, {"items", {{{"category", "tops"}, {"count", 1}}}}},
      gus);
  EXPECT_EQ(unknown_location.status, 404);
  // In maintenance the box takes no new reservations.
  ASSERT_EQ(internal("POST", "/internal/v1/boxes/" + box_ + "/maintenance",
                     nlohmann::json{{"on", true}}, manager_)
                .status,
            200);
  EXPECT_EQ(create_donation(gus, {{{"category", "tops"}, {"count", 1}}}).code(),
            "no_compartment_available");
  EXPECT_EQ(count("SELECT count(*) FROM donations"), 0);
  // Staff cannot use customer routes, and nobody anonymous.
  EXPECT_EQ(pub("GET", "/v1/donations").status, 401);
}

TEST_F(DonationTest, CustomersSeeOnlyTheirOwnDonations) {
  const auto alice = customer("alice");
  const auto mallory = customer("mallory");
  auto created = create_donation(alice, {{{"category", "tops"}, {"count", 1}}});
  ASSERT_EQ(created.status, 201);
  const auto path = "/v1/donations/" + std::to_string(created.body["id"].get<std::int64_t>());
  EXPECT_EQ(pub("GET", path, std::nullopt, mallory).status, 404);
  EXPECT_EQ(pub("GET", path + "/qr.png", std::nullopt, mallory).status, 404);
  EXPECT_EQ(pub("POST", path + "/cancel", std::nullopt, mallory).status, 404);
  EXPECT_EQ(pub("GET", "/v1/donations", std::nullopt, mallory).body["items"].size(), 0u);
  EXPECT_EQ(pub("GET", path, std::nullopt, alice).body["state"], "reserved");
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE outcome = 'denied' AND reason = "
                  "'not_owner' AND target_type = 'donation'"),
            3);
}

}  // namespace
}  // namespace reclothes::controller::testing
