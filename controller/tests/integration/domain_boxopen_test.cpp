// The online open (POST /v1/boxes/{box_id}/open) against real PostgreSQL and Mosquitto: the
// open_access command is read from the broker by a fake box (FakeBox), which answers as the
// firmware does (command result, then the visit's events with the command's and the token's ids,
// firmware/src/core/box.cpp handle_open_access).
#include <thread>

#include "domain_fixture.h"
#include "reclothes/common/token.h"
#include "reclothes/controller/domain/box_open.h"

namespace reclothes::controller::testing {
namespace {

using namespace std::chrono_literals;

class BoxOpenTest : public DomainTest {
 protected:
  void SetUp() override {
    DomainTest::SetUp();
    add_fleet({"S", "M", "L"});
  }

  Reply open_box(const std::string& token, const std::optional<nlohmann::json>& body = std::nullopt,
                 const std::string& box = "") {
    return pub("POST", "/v1/boxes/" + (box.empty() ? box_ : box) + "/open", body, token);
  }

  // A reserved donation of one top (S compartment 1): its id and deposit token id.
  std::pair<std::int64_t, std::string> donate(const std::string& token) {
    auto created = create_donation(token, {{{"category", "tops"}, {"count", 1}}});
    EXPECT_EQ(created.status, 201) << describe(created);
    if (created.status != 201) return {0, ""};
    return {created.body["id"].get<std::int64_t>(),
            created.body["token"]["token_id"].get<std::string>()};
  }

  std::vector<msg::Command> open_access_commands() {
    std::vector<msg::Command> out;
    for (const auto& env : fake_box_->received(msg::Topic::kCommands)) {
      const auto& c = std::get<msg::Command>(env.body);
      if (c.op == msg::CommandOp::kOpenAccess) out.push_back(c);
    }
    return out;
  }

  // Every command the controller published before now has reached the box: a staff remote open
  // goes out after them on the same ordered path (one bridge worker, QoS 1 on one topic).
  void flush_commands() {
    auto r = internal("POST", "/internal/v1/boxes/" + box_ + "/compartments/3/open",
                      nlohmann::json{{"reason", "test marker"}}, manager_);
    ASSERT_EQ(r.status, 202) << describe(r);
    const auto id = r.body["command_id"].get<std::string>();
    ASSERT_TRUE(wait_command([&](const msg::Command& c) { return c.id == id; }));
  }

  // What the firmware does with an open_access it accepts: the result, then the visit.
  void box_executes(const msg::Command& c, bool occupied) {
    ASSERT_TRUE(c.access.has_value());
    fake_box_->publish(msg::Topic::kCommandResults,
                       msg::CommandResult{c.id, true, "ok", "compartment unlocked"});
    msg::Event unlocked;
    unlocked.kind = msg::EventKind::kUnlocked;
    unlocked.compartment = c.access->compartment;
    unlocked.token_id = c.access->token_id;
    unlocked.action = c.access->action;
    unlocked.order_ref = c.access->order_ref;
    unlocked.command_id = c.id;
    msg::Event executed;
    executed.kind = msg::EventKind::kCommandExecuted;
    executed.command_id = c.id;
    executed.compartment = c.access->compartment;
    executed.reason = "ok";
    msg::Event opened;
    opened.kind = msg::EventKind::kDoorOpened;
    opened.compartment = c.access->compartment;
    msg::Event closed;
    closed.kind = msg::EventKind::kDoorClosed;
    closed.compartment = c.access->compartment;
    closed.occupied = occupied;
    closed.command_id = c.id;
    msg::Event done;
    done.kind = msg::EventKind::kAccessCompleted;
    done.compartment = c.access->compartment;
    done.token_id = c.access->token_id;
    done.action = c.access->action;
    done.order_ref = c.access->order_ref;
    done.occupied = occupied;
    last_visit_ = {unlocked, executed, opened, closed, done};
    publish_and_ack(last_visit_);
  }

  void box_refuses(const msg::Command& c, const std::string& code) {
    fake_box_->publish(msg::Topic::kCommandResults,
                       msg::CommandResult{c.id, false, code, "compartment: " + code});
    ASSERT_TRUE(eventually([&] {
      return count("SELECT count(*) FROM box_commands WHERE id = '" + c.id +
                   "' AND result_code = '" + code + "'") == 1;
    }));
  }

  std::vector<msg::Event> last_visit_;
};

TEST_F(BoxOpenTest, ADepositOpensOnceAndIsAppliedOnce) {
  std::int64_t alice_id = 0;
  const auto alice = customer("alice", &alice_id);
  const auto [donation, token_id] = donate(alice);

  auto r = open_box(alice);
  ASSERT_EQ(r.status, 202) << describe(r);
  EXPECT_EQ(r.body["status"], "sent");
  EXPECT_EQ(r.body["box_id"], box_);
  EXPECT_EQ(r.body["order_id"], donation);
  EXPECT_EQ(r.body["purpose"], "deposit");
  EXPECT_EQ(r.body["compartment"], 1);
  const auto command_id = r.body["command_id"].get<std::string>();
  EXPECT_EQ(command_id, "access-" + token_id + "-1");

  // The box gets the reservation's access: the right door, the token that becomes used.
  auto cmd = wait_command([&](const msg::Command& c) { return c.id == command_id; });
  ASSERT_TRUE(cmd);
  EXPECT_EQ(cmd->op, msg::CommandOp::kOpenAccess);
  ASSERT_TRUE(cmd->access.has_value());
  EXPECT_EQ(cmd->access->compartment, 1);
  EXPECT_EQ(cmd->access->order_ref, static_cast<std::uint64_t>(donation));
  EXPECT_EQ(cmd->access->action, TokenAction::kDeposit);
  EXPECT_EQ(cmd->access->token_id, token_id);
  EXPECT_EQ(
      cmd->access->until,
      count("SELECT extract(epoch FROM expires)::bigint FROM issued_tokens WHERE token_id = '" +
            token_id + "'"));
  // Audited as the customer's action.
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE actor_kind = 'customer' AND actor_id = " +
                  std::to_string(alice_id) +
                  " AND action = 'box.customer_open' AND outcome = 'ok' AND target_type = "
                  "'order' AND target_id = '" +
                  std::to_string(donation) + "'"),
            1);

  // A retry (the phone on a train) while the command is on its way sends nothing new.
  auto again = open_box(alice);
  ASSERT_EQ(again.status, 202) << describe(again);
  EXPECT_EQ(again.body["status"], "pending");
  EXPECT_EQ(again.body["command_id"], command_id);
  flush_commands();
  EXPECT_EQ(open_access_commands().size(), 1u);
  EXPECT_EQ(count("SELECT count(*) FROM box_commands WHERE op = 'open_access'"), 1);

  // The box opens and the visit's events apply the deposit once, also when they come again.
  box_executes(*cmd, true);
  auto d = pub("GET", "/v1/donations/" + std::to_string(donation), std::nullopt, alice);
  EXPECT_EQ(d.body["state"], "deposited") << describe(d);
  ASSERT_TRUE(eventually([&] {
    return count("SELECT count(*) FROM box_commands WHERE id = '" + command_id +
                 "' AND result_ok AND executed_seq IS NOT NULL") == 1;
  }));
  seq_ -= last_visit_.size();
  publish_and_ack(last_visit_);  // redelivered after a lost ack
  EXPECT_EQ(count("SELECT count(*) FROM box_events WHERE box_id = '" + box_ +
                  "' AND kind = 'access_completed'"),
            1);
  EXPECT_EQ(count("SELECT count(*) FROM compartment_holds WHERE order_id = " +
                  std::to_string(donation) + " AND phase = 'filled'"),
            1);

  // Closing the door and scanning the box again: nothing is live there any more.
  auto later = open_box(alice);
  EXPECT_EQ(later.status, 404) << describe(later);
  flush_commands();
  EXPECT_EQ(open_access_commands().size(), 1u);
}

TEST_F(BoxOpenTest, RequestsArrivingAtOnceSendOneCommand) {
  // A double tap, or the app's retry racing the first request: the box row's lock serialises
  // them, one sends and the others find its command pending.
  const auto alice = customer("alice");
  donate(alice);
  constexpr int kRequests = 4;
  std::vector<Reply> replies(kRequests);
  std::vector<std::thread> threads;
  for (int i = 0; i < kRequests; ++i) {
    threads.emplace_back([&, i] { replies[static_cast<std::size_t>(i)] = open_box(alice); });
  }
  for (auto& t : threads) t.join();
  int sent = 0;
  for (const Reply& r : replies) {
    ASSERT_EQ(r.status, 202) << describe(r);
    if (r.body["status"] == "sent") ++sent;
    EXPECT_EQ(r.body["command_id"], replies[0].body["command_id"]);
  }
  EXPECT_EQ(sent, 1);
  flush_commands();
  EXPECT_EQ(open_access_commands().size(), 1u);
  EXPECT_EQ(count("SELECT count(*) FROM box_commands WHERE op = 'open_access'"), 1);
}

TEST_F(BoxOpenTest, AfterTheDoorOpenedARetryIsRefusedAsAlreadyOpened) {
  const auto alice = customer("alice");
  donate(alice);
  auto r = open_box(alice);
  ASSERT_EQ(r.status, 202) << describe(r);
  auto cmd =
      wait_command([](const msg::Command& c) { return c.op == msg::CommandOp::kOpenAccess; });
  ASSERT_TRUE(cmd);
  // The box opened (its result is in) but the visit's events are not yet applied.
  fake_box_->publish(msg::Topic::kCommandResults, msg::CommandResult{cmd->id, true, "ok", ""});
  ASSERT_TRUE(eventually([&] {
    return count("SELECT count(*) FROM box_commands WHERE id = '" + cmd->id + "' AND result_ok") ==
           1;
  }));
  auto again = open_box(alice);
  EXPECT_EQ(again.status, 409) << describe(again);
  EXPECT_EQ(again.code(), "already_opened");
  EXPECT_EQ(again.body["error"]["details"]["command_id"], cmd->id);
}

TEST_F(BoxOpenTest, APickupOpensTheParcelsCompartment) {
  std::int64_t buyer_id = 0;
  const auto buyer = customer("bob", &buyer_id);
  const auto product = listed_product("Denim jacket", 4500, "outerwear");
  auto bought = buy(buyer, {product});
  ASSERT_EQ(bought.status, 201) << describe(bought);
  const auto order = bought.body["id"].get<std::int64_t>();
  const auto shipping = pack(order);
  ASSERT_GT(shipping, 0);
  ASSERT_EQ(assign(shipping, delivery_id_).status, 200);
  auto task = get_task(shipping, delivery_);
  const int compartment = task.body["compartments"][0].get<int>();
  visit(compartment, TokenAction::kCourierLoad, task.body["token"]["token_id"].get<std::string>(),
        shipping);
  auto ready = pub("GET", "/v1/orders/" + std::to_string(order), std::nullopt, buyer);
  ASSERT_EQ(ready.body["state"], "ready_for_pickup") << describe(ready);

  auto r = open_box(buyer);
  ASSERT_EQ(r.status, 202) << describe(r);
  EXPECT_EQ(r.body["purpose"], "pickup");
  EXPECT_EQ(r.body["compartment"], compartment);
  auto cmd =
      wait_command([](const msg::Command& c) { return c.op == msg::CommandOp::kOpenAccess; });
  ASSERT_TRUE(cmd);
  EXPECT_EQ(cmd->access->action, TokenAction::kPickup);
  EXPECT_EQ(cmd->access->token_id, ready.body["pickup"]["token"]["token_id"].get<std::string>());
  box_executes(*cmd, false);
  auto done = pub("GET", "/v1/orders/" + std::to_string(order), std::nullopt, buyer);
  EXPECT_EQ(done.body["state"], "completed") << describe(done);
}

TEST_F(BoxOpenTest, AnOfflineBoxIsRefusedWithTheQrCodeAdvice) {
  const auto alice = customer("alice");
  donate(alice);
  fake_box_->set_online(false);
  ASSERT_TRUE(eventually([&] {
    return count("SELECT count(*) FROM boxes WHERE id = '" + box_ + "' AND online") == 0;
  }));
  auto r = open_box(alice);
  EXPECT_EQ(r.status, 409) << describe(r);
  EXPECT_EQ(r.code(), "box_offline");
  EXPECT_NE(r.body["error"]["message"].get<std::string>().find("QR code"), std::string::npos);
  EXPECT_EQ(count("SELECT count(*) FROM box_commands WHERE op = 'open_access'"), 0);
}

TEST_F(BoxOpenTest, NothingThereAndSomeoneElsesReservationAreTheSame404) {
  const auto alice = customer("alice");
  const auto donation = donate(alice).first;
  std::int64_t mallory_id = 0;
  const auto mallory = customer("mallory", &mallory_id);

  auto nothing = open_box(mallory);
  EXPECT_EQ(nothing.status, 404) << describe(nothing);
  auto probe = open_box(mallory, nlohmann::json{{"order_id", donation}});
  EXPECT_EQ(probe.status, 404) << describe(probe);
  EXPECT_EQ(probe.body["error"], nothing.body["error"])
      << "another customer's reservation is not revealed";
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE actor_kind = 'customer' AND actor_id = " +
                  std::to_string(mallory_id) +
                  " AND outcome = 'denied' AND reason = 'not_owner' AND target_id = '" +
                  std::to_string(donation) + "'"),
            1);
  // An unknown box, and a box id that is not one.
  EXPECT_EQ(open_box(alice, std::nullopt, "no-such-box").status, 404);
  EXPECT_EQ(pub("POST", "/v1/boxes/bad%20id/open", std::nullopt, alice).status, 404);
  // Without a session: 401.
  EXPECT_EQ(open_box("").status, 401);
  EXPECT_EQ(count("SELECT count(*) FROM box_commands WHERE op = 'open_access'"), 0);
}

TEST_F(BoxOpenTest, SeveralReservationsAreListedAndOrderIdChooses) {
  const auto alice = customer("alice");
  const auto first = donate(alice).first;
  auto second_created = create_donation(alice, {{{"category", "shoes"}, {"count", 2}}});
  ASSERT_EQ(second_created.status, 201) << describe(second_created);
  const auto second = second_created.body["id"].get<std::int64_t>();

  auto r = open_box(alice);
  EXPECT_EQ(r.status, 409) << describe(r);
  EXPECT_EQ(r.code(), "reservation_ambiguous");
  const auto& listed = r.body["error"]["details"]["reservations"];
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0]["order_id"], first);
  EXPECT_EQ(listed[1]["order_id"], second);
  EXPECT_EQ(listed[1]["purpose"], "deposit");

  auto chosen = open_box(alice, nlohmann::json{{"order_id", second}});
  ASSERT_EQ(chosen.status, 202) << describe(chosen);
  EXPECT_EQ(chosen.body["order_id"], second);
  EXPECT_EQ(chosen.body["compartment"], second_created.body["compartment"]);
  // An order id that is none of them.
  EXPECT_EQ(open_box(alice, nlohmann::json{{"order_id", second + 1000}}).status, 404);
}

TEST_F(BoxOpenTest, BodiesAreReadStrictly) {
  const auto alice = customer("alice");
  donate(alice);
  auto wrong_type = open_box(alice, nlohmann::json{{"order_id", "7"}});
  EXPECT_EQ(wrong_type.status, 400) << describe(wrong_type);
  EXPECT_NE(wrong_type.raw.find("/order_id"), std::string::npos) << describe(wrong_type);
  auto unknown = open_box(alice, nlohmann::json{{"compartment", 1}});
  EXPECT_EQ(unknown.status, 400) << describe(unknown);
  EXPECT_NE(unknown.raw.find("/compartment"), std::string::npos) << describe(unknown);
  EXPECT_EQ(count("SELECT count(*) FROM box_commands WHERE op = 'open_access'"), 0);
}

TEST_F(BoxOpenTest, TheBoxsRefusalDecidesWhatARetryDoes) {
  const auto alice = customer("alice");
  const auto token_id = donate(alice).second;
  ASSERT_EQ(open_box(alice).status, 202);
  auto first =
      wait_command([](const msg::Command& c) { return c.op == msg::CommandOp::kOpenAccess; });
  ASSERT_TRUE(first);
  // The command was too old when it arrived: a retry sends attempt 2.
  box_refuses(*first, "expired");
  auto retry = open_box(alice);
  ASSERT_EQ(retry.status, 202) << describe(retry);
  EXPECT_EQ(retry.body["status"], "sent");
  EXPECT_EQ(retry.body["command_id"], "access-" + token_id + "-2");
  auto second =
      wait_command([&](const msg::Command& c) { return c.id == retry.body["command_id"]; });
  ASSERT_TRUE(second);
  // The phone's QR code was used at the camera meanwhile: the box refuses, and so does the API.
  box_refuses(*second, "already_used");
  auto used = open_box(alice);
  EXPECT_EQ(used.status, 409) << describe(used);
  EXPECT_EQ(used.code(), "already_used");
  EXPECT_EQ(count("SELECT count(*) FROM box_commands WHERE op = 'open_access'"), 2);
}

TEST_F(BoxOpenTest, ACommandWithoutAnAnswerIsRetriedAfterThePendingWindow) {
  const auto alice = customer("alice");
  const auto token_id = donate(alice).second;
  ASSERT_EQ(open_box(alice).status, 202);
  clock_.advance(std::chrono::milliseconds(domain::kOpenPendingMs - 1000));
  EXPECT_EQ(open_box(alice).body["status"], "pending");
  clock_.advance(2s);
  auto retry = open_box(alice);
  ASSERT_EQ(retry.status, 202) << describe(retry);
  EXPECT_EQ(retry.body["status"], "sent");
  EXPECT_EQ(retry.body["command_id"], "access-" + token_id + "-2");
}

}  // namespace
}  // namespace reclothes::controller::testing
