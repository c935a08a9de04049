// Stuck internal orders and offline conflicts (issue 18, items 3 and 8) against real PostgreSQL
// and Mosquitto: a manager's reassign, cancel and force-complete of each kind of internal order,
// collecting that goes on past a jammed or an empty compartment, the record of consumed tokens,
// and a late offline deposit into a compartment that was given to another order.
#include <map>

#include "domain_fixture.h"

namespace reclothes::controller::testing {
namespace {

using namespace std::chrono_literals;

class StuckTest : public DomainTest {
 protected:
  void SetUp() override {
    // The fake box sends no state reports while these tests move the clock by hours: no
    // `offline` faults (alarms) beside the ones the tests count.
    domain_overrides_["alarms"]["offline_after_s"] = 7 * 86400;
    DomainTest::SetUp();
    add_fleet({"S", "M", "L"});
  }

  // A donation of one piece of `category` deposited at the box: its id (compartment in *c).
  std::int64_t deposited(const std::string& who, const std::string& category, int* c = nullptr) {
    auto d = create_donation(who, {{{"category", category}, {"count", 1}}});
    EXPECT_EQ(d.status, 201) << describe(d);
    const auto id = d.body.value("id", std::int64_t{0});
    const auto compartment = d.body.value("compartment", 0);
    visit(compartment, TokenAction::kDeposit, d.body["token"].value("token_id", ""), id);
    if (c) *c = compartment;
    return id;
  }

  Reply decide(std::int64_t task, const std::string& what, const nlohmann::json& body,
               const std::string& token = "") {
    return internal("POST", "/internal/v1/orders/" + std::to_string(task) + "/" + what, body,
                    token.empty() ? manager_ : token);
  }

  std::string courier_token_id(std::int64_t task, const std::string& courier) {
    return get_task(task, courier).body["token"].value("token_id", "");
  }

  // The newest audit row of an action on an order, as JSON {before, after, reason}.
  nlohmann::json audit_of(const std::string& action, std::int64_t task) {
    const auto r = query(
        "SELECT before::text, after::text, reason FROM audit_log WHERE action = '" + action +
        "' AND target_id = '" + std::to_string(task) + "' AND outcome = 'ok' ORDER BY id DESC");
    if (r.empty()) return nullptr;
    return {{"before", nlohmann::json::parse(r[0][0].c_str())},
            {"after", nlohmann::json::parse(r[0][1].c_str())},
            {"reason", r[0][2].as<std::string>()}};
  }

  std::string donation_state(std::int64_t id) {
    return query("SELECT state FROM donations WHERE id = " + std::to_string(id))[0][0]
        .as<std::string>();
  }

  // A courier's unlock whose door then never opens: unlocked, jammed.
  void jam(int compartment, const std::string& token_id, std::int64_t order) {
    msg::Event unlocked;
    unlocked.kind = msg::EventKind::kUnlocked;
    unlocked.compartment = compartment;
    unlocked.token_id = token_id;
    unlocked.action = TokenAction::kCourierCollect;
    unlocked.order_ref = static_cast<std::uint64_t>(order);
    msg::Event jammed = unlocked;
    jammed.kind = msg::EventKind::kJammed;
    publish_and_ack({unlocked, jammed});
  }
};

TEST_F(StuckTest, AManagerCancelsAStuckCollectingOrderAndANewOneTakesTheRest) {
  const auto ann = customer("ann");
  int c1 = 0;
  int c2 = 0;
  const auto d1 = deposited(ann, "tops", &c1);
  const auto d2 = deposited(ann, "shoes", &c2);
  const auto task = last_task("collecting");
  ASSERT_NE(task, 0);
  ASSERT_EQ(assign(task, delivery_id_).status, 200);
  const auto token_id = courier_token_id(task, delivery_);
  visit(c1, TokenAction::kCourierCollect, token_id, task);
  ASSERT_EQ(get_task(task, manager_).body["state"], "in_progress");
  // The courier walked away: the order would wait forever.

  // Without a reason: 400, nothing changes.
  auto no_reason = decide(task, "cancel", nlohmann::json::object());
  EXPECT_EQ(no_reason.status, 400) << describe(no_reason);
  EXPECT_EQ(get_task(task, manager_).body["state"], "in_progress");

  auto cancelled = decide(task, "cancel", {{"reason", "courier left, box visit abandoned"}});
  ASSERT_EQ(cancelled.status, 200) << describe(cancelled);
  EXPECT_EQ(cancelled.body["state"], "cancelled");
  EXPECT_TRUE(cancelled.body["replaced_by"].is_null());
  ASSERT_EQ(cancelled.body["items"].size(), 2u);
  for (const auto& item : cancelled.body["items"]) {
    if (item["compartment"] == c1) {
      EXPECT_FALSE(item["collected_at"].is_null());
      EXPECT_TRUE(item["outcome"].is_null());
    } else {
      EXPECT_TRUE(item["collected_at"].is_null());
      EXPECT_EQ(item["outcome"], "skipped");
    }
  }
  // The collected donation stays collected; the other waits in its compartment for a new order.
  EXPECT_EQ(donation_state(d1), "collected");
  EXPECT_EQ(donation_state(d2), "deposited");
  EXPECT_EQ(count("SELECT count(*) FROM compartment_holds WHERE order_id = " + std::to_string(d2) +
                  " AND phase = 'filled' AND collecting_order_id IS NULL"),
            1);
  // The courier's token no longer opens the box.
  EXPECT_TRUE(wait_command([&](const msg::Command& c) {
    return c.op == msg::CommandOp::kRevoke && c.token_ids == std::vector<std::string>{token_id};
  }));
  // Audited with before, after and the reason.
  const auto audit = audit_of("internal_order.cancel", task);
  ASSERT_FALSE(audit.is_null());
  EXPECT_EQ(audit["before"]["state"], "in_progress");
  EXPECT_EQ(audit["after"]["state"], "cancelled");
  EXPECT_EQ(audit["reason"], "courier left, box visit abandoned");

  // A new collecting order picks the rest up.
  auto again = internal("POST", "/internal/v1/boxes/" + box_ + "/collect", std::nullopt, manager_);
  ASSERT_EQ(again.status, 201) << describe(again);
  EXPECT_EQ(again.body["compartments"], nlohmann::json({c2}));

  // Cancelled is final: a second cancel, a force-complete and a reassignment are refused.
  for (const auto& [what, body] : std::vector<std::pair<std::string, nlohmann::json>>{
           {"cancel", {{"reason", "again"}}},
           {"force-complete", {{"reason", "again"}}},
           {"reassign", {{"reason", "again"}, {"staff_id", delivery_id_}}}}) {
    auto refused = decide(task, what, body);
    EXPECT_EQ(refused.status, 409) << what << ": " << describe(refused);
    EXPECT_EQ(refused.code(), "illegal_transition") << what;
    EXPECT_NE(refused.body["error"]["message"].get<std::string>().find("cancelled"),
              std::string::npos)
        << "the refusal names the state: " << describe(refused);
  }
  // An unknown order: 404.
  EXPECT_EQ(decide(999999, "cancel", {{"reason", "x"}}).status, 404);
}

TEST_F(StuckTest, AManagerReassignsHalfDoneCollectingAndTheNewCourierGetsTheRest) {
  const auto bea = customer("bea");
  int c1 = 0;
  int c2 = 0;
  deposited(bea, "tops", &c1);
  const auto d2 = deposited(bea, "shoes", &c2);
  const auto task = last_task("collecting");
  ASSERT_EQ(assign(task, delivery_id_).status, 200);
  const auto first = courier_token_id(task, delivery_);
  visit(c1, TokenAction::kCourierCollect, first, task);
  // A plain assignment cannot take half-done collecting work from its courier...
  auto plain = assign(task, delivery_id_);
  EXPECT_EQ(plain.status, 409);
  EXPECT_EQ(plain.code(), "illegal_transition");
  std::int64_t other_id = 0;
  const auto other = staff_token({Role::kDelivery}, &other_id);
  // ... a manager's reassignment can, with a reason, to someone with the role.
  EXPECT_EQ(decide(task, "reassign", {{"staff_id", other_id}}).status, 400);
  auto wrong = decide(task, "reassign", {{"staff_id", checker_id_}, {"reason", "ill"}});
  EXPECT_EQ(wrong.status, 409);
  EXPECT_EQ(wrong.code(), "assignee_not_eligible");
  auto moved = decide(task, "reassign", {{"staff_id", other_id}, {"reason", "first courier ill"}});
  ASSERT_EQ(moved.status, 200) << describe(moved);
  EXPECT_EQ(moved.body["state"], "in_progress");
  EXPECT_EQ(moved.body["assignee_id"], other_id);
  const auto second = courier_token_id(task, other);
  ASSERT_FALSE(second.empty());
  EXPECT_NE(second, first);
  // The new token opens only the compartment still to empty.
  EXPECT_EQ(
      query("SELECT array_to_string(compartments, ',') FROM issued_tokens WHERE token_id = '" +
            second + "'")[0][0]
          .as<std::string>(),
      std::to_string(c2));
  EXPECT_TRUE(wait_command([&](const msg::Command& c) {
    return c.op == msg::CommandOp::kRevoke && c.token_ids == std::vector<std::string>{first};
  }));
  const auto audit = audit_of("internal_order.reassign", task);
  ASSERT_FALSE(audit.is_null());
  EXPECT_EQ(audit["before"]["assignee_id"], delivery_id_);
  EXPECT_EQ(audit["after"]["assignee_id"], other_id);
  EXPECT_EQ(audit["reason"], "first courier ill");
  // The new courier finishes the tour.
  visit(c2, TokenAction::kCourierCollect, second, task);
  EXPECT_EQ(get_task(task, manager_).body["state"], "done");
  EXPECT_EQ(donation_state(d2), "collected");
  // An open order is assigned, not reassigned.
  deposited(bea, "bottoms");
  auto made = internal("POST", "/internal/v1/boxes/" + box_ + "/collect", std::nullopt, manager_);
  ASSERT_EQ(made.status, 201) << describe(made);
  auto open = decide(made.body["id"].get<std::int64_t>(), "reassign",
                     {{"staff_id", other_id}, {"reason", "x"}});
  EXPECT_EQ(open.status, 409);
  EXPECT_EQ(open.code(), "illegal_transition");
}

TEST_F(StuckTest, AForceCompletedCollectingOrderLeavesWhatItDidNotEmptyForALaterCollect) {
  const auto cy = customer("cy");
  int c1 = 0;
  int c2 = 0;
  deposited(cy, "tops", &c1);
  const auto d2 = deposited(cy, "shoes", &c2);
  const auto task = last_task("collecting");
  // Open: nobody did anything to finish.
  auto open = decide(task, "force-complete", {{"reason", "done by hand"}});
  EXPECT_EQ(open.status, 409);
  EXPECT_EQ(open.code(), "illegal_transition");
  ASSERT_EQ(assign(task, delivery_id_).status, 200);
  visit(c1, TokenAction::kCourierCollect, courier_token_id(task, delivery_), task);
  EXPECT_EQ(decide(task, "force-complete", nlohmann::json::object()).status, 400);
  auto done = decide(task, "force-complete", {{"reason", "compartment 2 stays for next week"}});
  ASSERT_EQ(done.status, 200) << describe(done);
  EXPECT_EQ(done.body["state"], "done");
  EXPECT_FALSE(done.body["done_at"].is_null());
  EXPECT_EQ(count("SELECT count(*) FROM collecting_items WHERE order_id = " + std::to_string(task) +
                  " AND compartment = " + std::to_string(c2) +
                  " AND outcome = 'skipped' AND collected_at IS NULL"),
            1);
  // No fault for the skipped compartment; its donation waits for a later collect.
  EXPECT_EQ(count("SELECT count(*) FROM box_faults"), 0);
  EXPECT_EQ(donation_state(d2), "deposited");
  auto later = internal("POST", "/internal/v1/boxes/" + box_ + "/collect", std::nullopt, manager_);
  ASSERT_EQ(later.status, 201);
  EXPECT_EQ(later.body["compartments"], nlohmann::json({c2}));
  const auto audit = audit_of("internal_order.force_complete", task);
  ASSERT_FALSE(audit.is_null());
  EXPECT_EQ(audit["before"]["state"], "in_progress");
  EXPECT_EQ(audit["after"]["state"], "done");
  // Done is final.
  EXPECT_EQ(decide(task, "cancel", {{"reason", "x"}}).code(), "illegal_transition");
}

TEST_F(StuckTest, CheckingCancelRequeuesTheUngradedItemsAndForceCompleteRecyclesThem) {
  const auto dee = customer("dee");
  auto d = create_donation(dee, {{{"category", "tops"}, {"count", 1}},
                                 {{"category", "bottoms"}, {"count", 1}},
                                 {{"category", "shoes"}, {"count", 1}}});
  ASSERT_EQ(d.status, 201) << describe(d);
  const auto id = d.body["id"].get<std::int64_t>();
  const auto c = d.body["compartment"].get<int>();
  visit(c, TokenAction::kDeposit, d.body["token"]["token_id"].get<std::string>(), id);
  ASSERT_EQ(
      internal("POST", "/internal/v1/boxes/" + box_ + "/collect", std::nullopt, manager_).status,
      201);
  const auto collecting = last_task("collecting");
  ASSERT_EQ(assign(collecting, delivery_id_).status, 200);
  visit(c, TokenAction::kCourierCollect, courier_token_id(collecting, delivery_), collecting);
  const auto checking = task_of("checking", id);
  ASSERT_NE(checking, 0);
  ASSERT_EQ(assign(checking, checker_id_).status, 200);
  auto graded =
      internal("POST", "/internal/v1/orders/" + std::to_string(checking) + "/items/1/grade",
               nlohmann::json{{"grade", "publish"}, {"title", "Shirt"}}, checker_);
  ASSERT_EQ(graded.status, 200) << describe(graded);

  // The checker is gone: the manager cancels, the two ungraded items get a new checking order.
  auto cancelled = decide(checking, "cancel", {{"reason", "checker left; start over"}});
  ASSERT_EQ(cancelled.status, 200) << describe(cancelled);
  EXPECT_EQ(cancelled.body["state"], "cancelled");
  const auto replacement = cancelled.body["replaced_by"].get<std::int64_t>();
  auto fresh = get_task(replacement, manager_);
  EXPECT_EQ(fresh.body["state"], "open");
  EXPECT_EQ(fresh.body["kind"], "checking");
  ASSERT_EQ(fresh.body["items"].size(), 2u);
  EXPECT_EQ(fresh.body["items"][0]["position"], 2);
  EXPECT_EQ(fresh.body["items"][1]["position"], 3);
  EXPECT_EQ(audit_of("internal_order.cancel", checking)["after"]["replaced_by"], replacement);
  EXPECT_EQ(donation_state(id), "collected");

  // The new checker grades one, then the manager force-completes: the rest is recycled and the
  // donor rewarded for all three (1 published x 10 + 2 recycled x 2... as the rules say).
  ASSERT_EQ(assign(replacement, checker_id_).status, 200);
  auto done = decide(replacement, "force-complete", {{"reason", "the rest is worn out"}});
  ASSERT_EQ(done.status, 200) << describe(done);
  EXPECT_EQ(done.body["state"], "done");
  for (const auto& item : done.body["items"]) {
    EXPECT_EQ(item["grade"], "recycle");
    EXPECT_EQ(item["graded_by"], manager_id_);
  }
  EXPECT_EQ(donation_state(id), "completed");
  EXPECT_EQ(count("SELECT count(*) FROM coin_ledger WHERE reason = 'donation' AND ref_id = " +
                  std::to_string(id)),
            1);
}

TEST_F(StuckTest, PackingAndShippingAreCancelledIntoNewOrdersAndForceCompleted) {
  const auto eli = customer("eli");
  auto r = buy(eli, {listed_product("Coat", 5000, "outerwear")});
  ASSERT_EQ(r.status, 201) << describe(r);
  const auto order = r.body["id"].get<std::int64_t>();
  const auto packing = task_of("packing", order);
  ASSERT_NE(packing, 0);
  EXPECT_EQ(decide(packing, "force-complete", {{"reason", "x"}}).code(), "illegal_transition");
  ASSERT_EQ(assign(packing, packer_id_).status, 200);
  // Cancelled packing: a new open packing order for the same buying order.
  auto cancelled = decide(packing, "cancel", {{"reason", "packer off sick"}});
  ASSERT_EQ(cancelled.status, 200) << describe(cancelled);
  const auto packing2 = cancelled.body["replaced_by"].get<std::int64_t>();
  EXPECT_EQ(get_task(packing2, manager_).body["state"], "open");
  EXPECT_EQ(get_task(packing2, manager_).body["source"]["id"], order);
  EXPECT_EQ(pub("GET", "/v1/orders/" + std::to_string(order), std::nullopt, eli).body["state"],
            "paid");
  // Force-completed packing: packed as by the packer, with a shipping order.
  ASSERT_EQ(assign(packing2, packer_id_).status, 200);
  auto packed = decide(packing2, "force-complete", {{"reason", "packed, packer forgot to click"}});
  ASSERT_EQ(packed.status, 200) << describe(packed);
  EXPECT_EQ(packed.body["state"], "done");
  EXPECT_EQ(pub("GET", "/v1/orders/" + std::to_string(order), std::nullopt, eli).body["state"],
            "packed");
  const auto shipping = task_of("shipping", order);
  ASSERT_NE(shipping, 0);
  // A shipping order with a courier is cancelled into a new one (the token revoked) ...
  ASSERT_EQ(assign(shipping, delivery_id_).status, 200);
  const auto first_token = courier_token_id(shipping, delivery_);
  auto resend = decide(shipping, "cancel", {{"reason", "van broke down"}});
  ASSERT_EQ(resend.status, 200) << describe(resend);
  const auto shipping2 = resend.body["replaced_by"].get<std::int64_t>();
  auto s2 = get_task(shipping2, manager_);
  EXPECT_EQ(s2.body["state"], "open");
  EXPECT_EQ(s2.body["compartments"], resend.body["compartments"]);
  EXPECT_NE(s2.body["tracking_code"], resend.body["tracking_code"]);
  EXPECT_TRUE(wait_command([&](const msg::Command& c) {
    return c.op == msg::CommandOp::kRevoke && c.token_ids == std::vector<std::string>{first_token};
  }));
  // ... and a force-completed one counts the parcel as loaded: the customer gets a pickup code.
  ASSERT_EQ(assign(shipping2, delivery_id_).status, 200);
  auto loaded = decide(shipping2, "force-complete", {{"reason", "loaded through a remote open"}});
  ASSERT_EQ(loaded.status, 200) << describe(loaded);
  EXPECT_EQ(loaded.body["state"], "done");
  auto mine = pub("GET", "/v1/orders/" + std::to_string(order), std::nullopt, eli);
  EXPECT_EQ(mine.body["state"], "ready_for_pickup");
  EXPECT_FALSE(mine.body["pickup"]["token"].is_null());
}

TEST_F(StuckTest, CollectingGoesOnPastAJammedAndAnEmptyCompartment) {
  domain_overrides_ = {
      {"collecting", {{"compartment_threshold", 3}, {"empty_by_fill_sensor", true}}}};
  restart_with_domain_config();
  const auto fay = customer("fay");
  int c1 = 0;
  int c2 = 0;
  int c3 = 0;
  const auto d1 = deposited(fay, "tops", &c1);
  const auto d2 = deposited(fay, "shoes", &c2);
  const auto d3 = deposited(fay, "outerwear", &c3);
  const auto task = last_task("collecting");
  ASSERT_NE(task, 0);
  ASSERT_EQ(get_task(task, manager_).body["compartments"].size(), 3u);
  // The fill sensor of the third compartment reads 0: whatever was deposited is not there.
  msg::Event fill;
  fill.kind = msg::EventKind::kFillLevel;
  fill.compartment = c3;
  fill.fill_percent = 0;
  publish_and_ack({fill});
  ASSERT_EQ(assign(task, delivery_id_).status, 200);
  const auto token = courier_token_id(task, delivery_);

  visit(c1, TokenAction::kCourierCollect, token, task);
  // The second door jams: that part ends as jammed, the order does not wait for it.
  jam(c2, token, task);
  auto after_jam = get_task(task, manager_);
  EXPECT_EQ(after_jam.body["state"], "in_progress");
  // The third is opened and found empty: the order completes.
  visit(c3, TokenAction::kCourierCollect, token, task);
  auto done = get_task(task, manager_);
  EXPECT_EQ(done.body["state"], "done") << describe(done);
  std::map<int, nlohmann::json> items;
  for (const auto& item : done.body["items"]) items[item["compartment"].get<int>()] = item;
  EXPECT_TRUE(items[c1]["outcome"].is_null());
  EXPECT_FALSE(items[c1]["collected_at"].is_null());
  EXPECT_EQ(items[c2]["outcome"], "jammed");
  EXPECT_EQ(items[c3]["outcome"], "empty");
  EXPECT_TRUE(items[c3]["collected_at"].is_null());

  EXPECT_EQ(donation_state(d1), "collected");
  // The jammed compartment has the box's fault and its donation stays for a later collect.
  EXPECT_EQ(count("SELECT count(*) FROM box_faults WHERE kind = 'jammed' AND compartment = " +
                  std::to_string(c2) + " AND cleared_at IS NULL"),
            1);
  EXPECT_EQ(donation_state(d2), "deposited");
  EXPECT_EQ(count("SELECT count(*) FROM compartment_holds WHERE order_id = " + std::to_string(d2) +
                  " AND collecting_order_id IS NULL"),
            1);
  // The empty compartment is free again; its donation is left as it was (nothing to reward).
  EXPECT_EQ(donation_state(d3), "deposited");
  EXPECT_EQ(count("SELECT count(*) FROM compartment_holds WHERE order_id = " + std::to_string(d3)),
            0);
  EXPECT_EQ(task_of("checking", d3), 0);
  // The box said when the courier's token opened each door.
  EXPECT_EQ(count("SELECT count(*) FROM token_consumptions WHERE token_id = '" + token + "'"), 3);
  auto later = internal("POST", "/internal/v1/boxes/" + box_ + "/collect", std::nullopt, manager_);
  ASSERT_EQ(later.status, 201) << describe(later);
  EXPECT_EQ(later.body["compartments"], nlohmann::json({c2}));
  const auto later_id = later.body["id"].get<std::int64_t>();

  // A technician opens the jammed door remotely, which retries the courier's visit: the courier
  // takes the clothes after all. The collect counts, and the newer order has nothing left to
  // fetch (it collected nothing, so it is cancelled).
  visit(c2, TokenAction::kCourierCollect, token, task);
  EXPECT_EQ(donation_state(d2), "collected");
  EXPECT_NE(task_of("checking", d2), 0);
  auto settled = get_task(later_id, manager_);
  EXPECT_EQ(settled.body["state"], "cancelled") << describe(settled);
  EXPECT_EQ(settled.body["items"][0]["outcome"], "skipped");
  EXPECT_EQ(count("SELECT count(*) FROM compartment_holds WHERE order_id = " + std::to_string(d2)),
            0);
}

TEST_F(StuckTest, ALateOfflineDepositIntoAReallocatedCompartmentOpensAFaultAndAStaffTask) {
  const auto gus = customer("gus");
  const auto hal = customer("hal");
  auto late = create_donation(gus, {{{"category", "tops"}, {"count", 1}}});
  ASSERT_EQ(late.status, 201);
  const auto late_id = late.body["id"].get<std::int64_t>();
  const auto c = late.body["compartment"].get<int>();
  const auto late_token = late.body["token"]["token_id"].get<std::string>();
  // The box goes offline; Gus deposits there just before his reservation ends, but the
  // controller does not hear of it: the reservation expires and Hal gets the compartment.
  clock_.advance(24h + 1min);
  EXPECT_EQ(run_worker().expired_donations, 1);
  // A day later the staff log in again (sessions last 12 h).
  manager_ = staff_token({Role::kManager}, &manager_id_);
  delivery_ = staff_token({Role::kDelivery}, &delivery_id_);
  ASSERT_EQ(donation_state(late_id), "expired");
  auto other = create_donation(hal, {{{"category", "tops"}, {"count", 1}}});
  ASSERT_EQ(other.status, 201);
  const auto other_id = other.body["id"].get<std::int64_t>();
  ASSERT_EQ(other.body["compartment"], c);
  const auto hold_before = query(
      "SELECT order_id, purpose, phase, since::text, filled_at::text, collecting_order_id "
      "FROM compartment_holds WHERE box_id = '" +
      box_ + "' AND compartment = " + std::to_string(c));
  ASSERT_EQ(hold_before.size(), 1u);

  // The box comes back with the old deposit (box clock: before the expiry).
  msg::Event unlocked;
  unlocked.kind = msg::EventKind::kUnlocked;
  unlocked.compartment = c;
  unlocked.token_id = late_token;
  unlocked.action = TokenAction::kDeposit;
  unlocked.order_ref = static_cast<std::uint64_t>(late_id);
  msg::Event opened;
  opened.kind = msg::EventKind::kDoorOpened;
  opened.compartment = c;
  msg::Event closed;
  closed.kind = msg::EventKind::kDoorClosed;
  closed.compartment = c;
  closed.occupied = true;
  msg::Event done = unlocked;
  done.kind = msg::EventKind::kAccessCompleted;
  done.occupied = true;
  std::vector<msg::Event> batch = {unlocked, opened, closed, done};
  const auto box_clock = clock_.wall_ms() - 3600 * 1000;
  for (auto& e : batch) {
    e.seq = ++seq_;
    e.at_ms = box_clock;
  }
  fake_box_->publish_events(batch);
  ASSERT_TRUE(fake_box_->wait_for_ack(seq_));
  // Redelivered (the ack was lost): applied once.
  fake_box_->publish_events(batch);
  ASSERT_TRUE(fake_box_->wait_for_ack(seq_));

  // Gus's donation counts: deposited.
  EXPECT_EQ(donation_state(late_id), "deposited");
  // Hal's hold is exactly as it was.
  const auto hold_after = query(
      "SELECT order_id, purpose, phase, since::text, filled_at::text, collecting_order_id "
      "FROM compartment_holds WHERE box_id = '" +
      box_ + "' AND compartment = " + std::to_string(c));
  ASSERT_EQ(hold_after.size(), 1u);
  for (pqxx::row::size_type i = 0; i < hold_before[0].size(); ++i) {
    EXPECT_EQ(hold_after[0][i].is_null(), hold_before[0][i].is_null()) << "column " << i;
    EXPECT_EQ(std::string(hold_after[0][i].c_str()), std::string(hold_before[0][i].c_str()))
        << "column " << i;
  }
  EXPECT_EQ(hold_after[0][2].as<std::string>(), "reserved");
  EXPECT_EQ(donation_state(other_id), "reserved");
  // One fault with both orders in its details.
  const auto faults =
      query("SELECT details::text, event_seq FROM box_faults WHERE kind = 'late_deposit_conflict'");
  ASSERT_EQ(faults.size(), 1u);
  const auto details = nlohmann::json::parse(faults[0][0].c_str());
  EXPECT_EQ(details["late_order"]["id"], late_id);
  EXPECT_EQ(details["holding_order"]["id"], other_id);
  EXPECT_EQ(details["holding_order"]["kind"], "donation");
  EXPECT_EQ(details["consumption"]["token_id"], late_token);
  EXPECT_EQ(details["consumption"]["seq"], batch[0].seq);
  EXPECT_EQ(details["consumption"]["at"], ts(box_clock));
  EXPECT_EQ(faults[0][1].as<std::uint64_t>(), batch[3].seq);
  // The box's view lists it.
  auto box = internal("GET", "/internal/v1/boxes/" + box_, std::nullopt, manager_);
  ASSERT_EQ(box.status, 200);
  ASSERT_EQ(box.body["faults"].size(), 1u);
  EXPECT_EQ(box.body["faults"][0]["kind"], "late_deposit_conflict");
  // The consumed token is recorded once, at its box seq and box time.
  const auto consumed =
      query("SELECT seq, consumed_at = '" + ts(box_clock) +
            "'::timestamptz FROM token_consumptions WHERE token_id = '" + late_token + "'");
  ASSERT_EQ(consumed.size(), 1u);
  EXPECT_EQ(consumed[0][0].as<std::uint64_t>(), batch[0].seq);
  EXPECT_TRUE(consumed[0][1].as<bool>());
  EXPECT_EQ(count("SELECT count(*) FROM box_events WHERE box_id = '" + box_ + "'"),
            static_cast<std::int64_t>(seq_));

  // The staff task: one collecting order that fetches Gus's clothes, with a note.
  const auto task = details["collecting_order_id"].get<std::int64_t>();
  EXPECT_EQ(count("SELECT count(*) FROM internal_orders WHERE kind = 'collecting'"), 1);
  auto t = get_task(task, manager_);
  EXPECT_EQ(t.body["trigger"], "late_deposit");
  EXPECT_EQ(t.body["compartments"], nlohmann::json({c}));
  EXPECT_NE(t.body["note"].get<std::string>().find("donation " + std::to_string(late_id)),
            std::string::npos);
  // The courier fetches them: Gus's donation is collected, the fault resolved, Hal's hold stays.
  ASSERT_EQ(assign(task, delivery_id_).status, 200);
  visit(c, TokenAction::kCourierCollect, courier_token_id(task, delivery_), task);
  EXPECT_EQ(get_task(task, manager_).body["state"], "done");
  EXPECT_EQ(donation_state(late_id), "collected");
  EXPECT_EQ(count("SELECT count(*) FROM box_faults WHERE cleared_at IS NULL"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM compartment_holds WHERE order_id = " +
                  std::to_string(other_id) + " AND phase = 'reserved'"),
            1);
}

}  // namespace
}  // namespace reclothes::controller::testing
