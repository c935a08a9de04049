// Customer service on a customer's behalf against real PostgreSQL and Mosquitto and the sandbox
// payment provider: the staff search by each filter with paging, masking with and without
// customers.read_full, the case view with its history, cancel on behalf (buying order and
// donation: refund issued, revocation and config published), partial refunds that add up and the
// over-refund refusal, re-sending the pickup code, the refusals, and the audit rows.
#include "domain_fixture.h"

namespace reclothes::controller::testing {
namespace {

using namespace std::chrono_literals;

class OnBehalfTest : public DomainTest {
 protected:
  void SetUp() override {
    DomainTest::SetUp();
    add_fleet({"M", "M", "M", "L"});
  }

  std::int64_t order_bought(const std::string& buyer, std::int64_t price,
                            const std::string& title) {
    auto r = buy(buyer, {listed_product(title, price)});
    EXPECT_EQ(r.status, 201) << describe(r);
    EXPECT_EQ(r.body["state"], "paid");
    return r.body.value("id", std::int64_t{0});
  }

  // Paid to ready for pickup: packing, the courier's assignment and load visit. The shipping id.
  std::int64_t deliver(std::int64_t order) {
    const auto shipping = pack(order);
    EXPECT_EQ(assign(shipping, delivery_id_).status, 200);
    auto task = get_task(shipping, delivery_);
    if (task.status != 200 || task.body["token"].is_null()) {
      ADD_FAILURE() << "no courier token: " << describe(task);
      return shipping;
    }
    visit(task.body["compartments"][0].get<int>(), TokenAction::kCourierLoad,
          task.body["token"]["token_id"].get<std::string>(), shipping);
    return shipping;
  }

  Reply search(const std::string& query, const std::string& token, bool donations = false) {
    return internal(
        "GET",
        std::string(donations ? "/internal/v1/donations" : "/internal/v1/buying-orders") +
            (query.empty() ? "" : "?" + query),
        std::nullopt, token);
  }

  // The ids of a search's items, in order.
  static std::vector<std::int64_t> ids(const Reply& r) {
    std::vector<std::int64_t> out;
    if (!r.body.contains("items")) return out;
    for (const auto& i : r.body["items"]) out.push_back(i["id"].get<std::int64_t>());
    return out;
  }

  Reply order_action(std::int64_t id, const std::string& action, const nlohmann::json& body) {
    return internal("POST", "/internal/v1/buying-orders/" + std::to_string(id) + "/" + action, body,
                    manager_);
  }
  Reply order_case(std::int64_t id, const std::string& token = "") {
    return internal("GET", "/internal/v1/buying-orders/" + std::to_string(id), std::nullopt,
                    token.empty() ? manager_ : token);
  }

  pqxx::result audit_rows(const std::string& action, std::int64_t target) {
    return query(
        "SELECT actor_id, before::text, after::text, reason, outcome FROM audit_log WHERE action "
        "= '" +
        action + "' AND target_id = '" + std::to_string(target) + "' ORDER BY id");
  }

  std::string charge_ref(std::int64_t order) {
    auto rows = query("SELECT provider_ref FROM payments WHERE kind = 'charge' AND order_id = " +
                      std::to_string(order));
    return rows.empty() ? "" : rows[0][0].as<std::string>();
  }

  std::string email_of(std::int64_t customer_id) {
    return query("SELECT email FROM customers WHERE id = " + std::to_string(customer_id))[0][0]
        .as<std::string>();
  }
};

TEST_F(OnBehalfTest, SearchFindsBuyingOrdersByEachFilterWithStablePaging) {
  std::int64_t alice_id = 0;
  std::int64_t bob_id = 0;
  const auto alice = customer("alice", &alice_id);
  const auto bob = customer("bob", &bob_id);
  const auto first = order_bought(alice, 1500, "Alice's shirt");
  clock_.advance(1h);
  const auto second = order_bought(bob, 2500, "Bob's coat");
  const auto shipping = pack(second);  // packed: a box, a compartment and a tracking code
  ASSERT_NE(shipping, 0);
  const auto tracking = get_task(shipping, manager_).body["tracking_code"].get<std::string>();
  const auto second_created = order_case(second).body["order"]["created_at"].get<std::string>();

  const auto expect_ids = [&](const std::string& q, std::vector<std::int64_t> want) {
    auto r = search(q, manager_);
    ASSERT_EQ(r.status, 200) << q << ": " << describe(r);
    EXPECT_EQ(ids(r), want) << q;
    EXPECT_EQ(r.body["total"], want.size()) << q;
  };
  expect_ids("", {second, first});  // newest first
  expect_ids("customer_id=" + std::to_string(alice_id), {first});
  expect_ids("email=" + email_of(bob_id), {second});
  expect_ids("state=paid", {first});
  expect_ids("state=packed", {second});
  expect_ids("state=cancelled", {});
  expect_ids("box_id=" + box_, {second});
  expect_ids("location_id=" + std::to_string(location_), {second, first});
  expect_ids("location_id=999999", {});
  expect_ids("created_to=" + second_created, {first});
  expect_ids("created_from=" + second_created, {second});
  expect_ids("tracking_code=" + tracking, {second});
  expect_ids("tracking_code=RC-NOSUCHLABEL", {});
  expect_ids("customer_id=" + std::to_string(alice_id) + "&state=packed", {});

  // Paging by before_id: stable whatever is created meanwhile.
  auto page1 = search("limit=1", manager_);
  ASSERT_EQ(page1.status, 200);
  EXPECT_EQ(ids(page1), std::vector<std::int64_t>{second});
  EXPECT_EQ(page1.body["total"], 2);
  ASSERT_EQ(page1.body["next_before_id"], second);
  order_bought(customer("carol"), 900, "Carol's hat");  // newer: not on the later pages
  auto page2 = search("limit=1&before_id=" + std::to_string(second), manager_);
  EXPECT_EQ(ids(page2), std::vector<std::int64_t>{first});
  EXPECT_TRUE(page2.body["next_before_id"].is_null());

  // Bad filters are refused with the parameter named.
  for (const auto& bad : {"state=lost", "created_from=yesterday", "limit=500", "customer_id=x"}) {
    auto r = search(bad, manager_);
    EXPECT_EQ(r.status, 400) << bad << ": " << describe(r);
    EXPECT_EQ(r.code(), "invalid_query") << bad;
  }
}

TEST_F(OnBehalfTest, SearchFindsDonationsByCustomerStateBoxAndEmail) {
  std::int64_t dora_id = 0;
  const auto dora = customer("dora", &dora_id);
  auto donated = create_donation(dora, {{{"category", "tops"}, {"count", 2}}});
  ASSERT_EQ(donated.status, 201) << describe(donated);
  const auto donation = donated.body["id"].get<std::int64_t>();
  auto other = create_donation(customer("egon"), {{{"category", "tops"}, {"count", 1}}});
  ASSERT_EQ(other.status, 201);
  const auto expect_ids = [&](const std::string& q, std::vector<std::int64_t> want) {
    auto r = search(q, manager_, true);
    ASSERT_EQ(r.status, 200) << q << ": " << describe(r);
    EXPECT_EQ(ids(r), want) << q;
  };
  const auto other_id = other.body["id"].get<std::int64_t>();
  expect_ids("", {other_id, donation});
  expect_ids("customer_id=" + std::to_string(dora_id), {donation});
  expect_ids("email=" + email_of(dora_id), {donation});
  expect_ids("state=reserved&box_id=" + box_, {other_id, donation});
  expect_ids("state=deposited", {});
  expect_ids("location_id=" + std::to_string(location_), {other_id, donation});
  EXPECT_EQ(search("state=paid", manager_, true).status, 400) << "not a donation state";
  // The list never shows the deposit token.
  auto all = search("", manager_, true);
  for (const auto& item : all.body["items"]) EXPECT_TRUE(item["token"].is_null());
}

TEST_F(OnBehalfTest, PersonalDataIsMaskedUnlessTheCallerHasReadFull) {
  std::int64_t alice_id = 0;
  const auto alice = customer("alice", &alice_id);
  exec("UPDATE customers SET display_name = 'Alice Example', phone = '+49 30 1234567' WHERE id = " +
       std::to_string(alice_id));
  const auto email = email_of(alice_id);
  const auto order = order_bought(alice, 1200, "Masked shirt");

  auto masked = search("customer_id=" + std::to_string(alice_id), manager_);
  ASSERT_EQ(masked.status, 200) << describe(masked);
  const auto& c = masked.body["items"][0]["customer"];
  EXPECT_EQ(c["masked"], true);
  EXPECT_EQ(c["email"], "a***@example.org");
  EXPECT_EQ(c["display_name"], "A***");
  EXPECT_EQ(c["phone"], "***4567");
  EXPECT_EQ(masked.raw.find(email), std::string::npos) << "the email is nowhere in the answer";
  EXPECT_EQ(masked.raw.find("Alice Example"), std::string::npos);
  auto masked_case = order_case(order);
  EXPECT_EQ(masked_case.body["customer"]["email"], "a***@example.org");
  EXPECT_EQ(masked_case.raw.find(email), std::string::npos);
  // Finding by exact email works for masked readers.
  EXPECT_EQ(ids(search("email=" + email, manager_)), std::vector<std::int64_t>{order});

  const auto full_reader = staff_token({Role::kSuperAdmin});
  auto full = search("customer_id=" + std::to_string(alice_id), full_reader);
  ASSERT_EQ(full.status, 200);
  EXPECT_EQ(full.body["items"][0]["customer"]["masked"], false);
  EXPECT_EQ(full.body["items"][0]["customer"]["email"], email);
  EXPECT_EQ(full.body["items"][0]["customer"]["display_name"], "Alice Example");
  EXPECT_EQ(full.body["items"][0]["customer"]["phone"], "+49 30 1234567");
  EXPECT_EQ(order_case(order, full_reader).body["customer"]["email"], email);
}

TEST_F(OnBehalfTest, CancelOnBehalfHasTheCustomersCancelEffectsAndIsAudited) {
  std::int64_t buyer_id = 0;
  const auto buyer = customer("buyer", &buyer_id);
  const auto order = order_bought(buyer, 8000, "Winter coat");
  const auto shipping = pack(order);  // packed: its pickup compartment is reserved at the box
  ASSERT_NE(shipping, 0);
  const int compartment = order_case(order).body["order"]["pickup"]["compartment"].get<int>();

  auto cancelled = order_action(order, "cancel", {{"reason", "customer called: moved abroad"}});
  ASSERT_EQ(cancelled.status, 200) << describe(cancelled);
  EXPECT_EQ(cancelled.body["order"]["state"], "cancelled");
  // The refund went through the payment adapter once; the box lost the reservation.
  EXPECT_EQ(sandbox_->refunds_for_key("order-" + std::to_string(order) + "-refund"), 1);
  EXPECT_EQ(sandbox_->net_amount(charge_ref(order)), 0);
  auto after = order_case(order);
  EXPECT_EQ(after.body["order"]["refund"]["state"], "succeeded");
  EXPECT_EQ(after.body["refunded_cents"], 8000);
  EXPECT_EQ(after.body["refundable_cents"], 0);
  EXPECT_EQ(get_task(shipping, manager_).body["state"], "cancelled");
  EXPECT_EQ(count("SELECT count(*) FROM compartment_holds"), 0);
  EXPECT_TRUE(wait_config([&](const msg::Config& c) {
    for (const auto& r : c.reservations) {
      if (r.compartment == compartment) return false;
    }
    return true;
  })) << "the box learns the reservation is gone";
  EXPECT_EQ(pub("GET", "/v1/products?q=Winter").body["total"], 1) << "for sale again";
  EXPECT_EQ(count("SELECT count(*) FROM notifications WHERE kind = 'order_cancelled' AND "
                  "recipient_id = " +
                  std::to_string(buyer_id)),
            1);
  EXPECT_EQ(count("SELECT count(*) FROM notifications WHERE kind = 'refund_issued' AND "
                  "recipient_id = " +
                  std::to_string(buyer_id)),
            1);

  // Audited with before/after and the reason; the history names the staff member.
  auto rows = audit_rows("customer_order.cancel", order);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0][0].as<std::int64_t>(), manager_id_);
  const auto before = nlohmann::json::parse(rows[0][1].as<std::string>());
  const auto after_image = nlohmann::json::parse(rows[0][2].as<std::string>());
  EXPECT_EQ(before["state"], "packed");
  EXPECT_EQ(before["refunded_cents"], 0);
  EXPECT_EQ(after_image["state"], "cancelled");
  EXPECT_EQ(after_image["refunded_cents"], 8000);
  EXPECT_EQ(rows[0][3].as<std::string>(), "customer called: moved abroad");
  const auto& history = after.body["history"];
  ASSERT_GE(history.size(), 3u) << after.body.dump();
  EXPECT_TRUE(history[0]["from"].is_null());
  EXPECT_EQ(history[0]["to"], "payment_pending");
  EXPECT_EQ(history[0]["actor"]["kind"], "customer");
  const auto& last = history.back();
  EXPECT_EQ(last["from"], "packed");
  EXPECT_EQ(last["to"], "cancelled");
  EXPECT_EQ(last["actor"]["kind"], "staff");
  EXPECT_EQ(last["actor"]["id"], manager_id_);
  EXPECT_EQ(last["actor"]["recorded"], true);
  EXPECT_EQ(last["reason"], "customer called: moved abroad");
  ASSERT_EQ(after.body["audit"].size(), 1u);
  EXPECT_EQ(after.body["audit"][0]["action"], "customer_order.cancel");
  bool saw_packing = false;
  for (const auto& t : after.body["internal_orders"]) saw_packing |= t["kind"] == "packing";
  EXPECT_TRUE(saw_packing);

  // Again: 409 naming the state, nothing changes.
  auto again = order_action(order, "cancel", {{"reason", "twice"}});
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(again.code(), "illegal_transition");
  EXPECT_EQ(again.body["error"]["details"]["from"], "cancelled");
  EXPECT_NE(again.body["error"]["message"].get<std::string>().find("cancelled"), std::string::npos);
  EXPECT_EQ(sandbox_->total_refunds(), 1);
  EXPECT_EQ(audit_rows("customer_order.cancel", order).size(), 1u);
}

TEST_F(OnBehalfTest, CancellingAReservedDonationRevokesItsTokenAtTheBox) {
  const auto donor = customer("donor");
  auto donated = create_donation(donor, {{{"category", "tops"}, {"count", 3}}});
  ASSERT_EQ(donated.status, 201) << describe(donated);
  const auto donation = donated.body["id"].get<std::int64_t>();
  const auto token_id = donated.body["token"]["token_id"].get<std::string>();

  auto cancelled =
      internal("POST", "/internal/v1/donations/" + std::to_string(donation) + "/cancel",
               nlohmann::json{{"reason", "donor phoned: no time this week"}}, manager_);
  ASSERT_EQ(cancelled.status, 200) << describe(cancelled);
  EXPECT_EQ(cancelled.body["donation"]["state"], "cancelled");
  EXPECT_TRUE(wait_command([&](const msg::Command& c) {
    return c.op == msg::CommandOp::kRevoke && c.token_ids == std::vector<std::string>{token_id};
  })) << "no revoke command for "
      << token_id;
  auto view =
      internal("GET", "/internal/v1/donations/" + std::to_string(donation), std::nullopt, manager_);
  ASSERT_EQ(view.status, 200);
  ASSERT_EQ(view.body["tokens"].size(), 1u);
  EXPECT_EQ(view.body["tokens"][0]["token_id"], token_id);
  EXPECT_FALSE(view.body["tokens"][0]["revoked_at"].is_null());
  EXPECT_TRUE(view.body["donation"]["token"].is_null()) << "staff never see the token's text";
  EXPECT_EQ(view.raw.find("RC1:"), std::string::npos);
  EXPECT_EQ(view.body["history"].back()["actor"]["kind"], "staff");

  auto rows = audit_rows("customer_donation.cancel", donation);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(rows[0][1].as<std::string>())["state"], "reserved");
  EXPECT_EQ(nlohmann::json::parse(rows[0][2].as<std::string>())["state"], "cancelled");
  EXPECT_EQ(rows[0][3].as<std::string>(), "donor phoned: no time this week");

  auto again = internal("POST", "/internal/v1/donations/" + std::to_string(donation) + "/cancel",
                        nlohmann::json{{"reason", "again"}}, manager_);
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(again.body["error"]["details"]["from"], "cancelled");
  auto unknown = internal("POST", "/internal/v1/donations/999999/cancel",
                          nlohmann::json{{"reason", "nobody"}}, manager_);
  EXPECT_EQ(unknown.status, 404);
}

TEST_F(OnBehalfTest, PartialRefundsAddUpAndNeverExceedTheCharge) {
  std::int64_t buyer_id = 0;
  const auto buyer = customer("refundee", &buyer_id);
  const auto order = order_bought(buyer, 5000, "Stained dress");
  const auto refund = [&](std::optional<std::int64_t> amount, const std::string& reason) {
    nlohmann::json body = {{"reason", reason}};
    if (amount) body["amount_cents"] = *amount;
    return order_action(order, "refund", body);
  };

  auto r1 = refund(1000, "stain on the sleeve");
  ASSERT_EQ(r1.status, 200) << describe(r1);
  EXPECT_EQ(r1.body["order"]["state"], "paid") << "a refund does not move the order";
  auto r2 = refund(1500, "late delivery goodwill");
  ASSERT_EQ(r2.status, 200) << describe(r2);
  auto view = order_case(order);
  EXPECT_EQ(view.body["refunded_cents"], 2500);
  EXPECT_EQ(view.body["refundable_cents"], 2500);
  EXPECT_EQ(sandbox_->net_amount(charge_ref(order)), 2500);

  // More than is left: refused, naming what is left; nothing reaches the provider.
  auto over = refund(3000, "too much");
  EXPECT_EQ(over.status, 409) << describe(over);
  EXPECT_EQ(over.code(), "refund_exceeds_refundable");
  EXPECT_EQ(over.body["error"]["details"]["refundable_cents"], 2500);
  EXPECT_EQ(sandbox_->total_refunds(), 2);

  // Without an amount: all that is left.
  auto rest = refund(std::nullopt, "customer unhappy, full refund");
  ASSERT_EQ(rest.status, 200) << describe(rest);
  EXPECT_EQ(sandbox_->net_amount(charge_ref(order)), 0);
  auto none = refund(100, "one more");
  EXPECT_EQ(none.status, 409);
  EXPECT_EQ(none.code(), "nothing_to_refund");
  EXPECT_EQ(sandbox_->total_refunds(), 3);

  // Each refund is its own payment with its reason and issuer, and its own notification.
  view = order_case(order);
  std::vector<std::int64_t> amounts;
  for (const auto& p : view.body["payments"]) {
    if (p["kind"] != "refund") continue;
    amounts.push_back(p["amount_cents"].get<std::int64_t>());
    EXPECT_EQ(p["state"], "succeeded");
    EXPECT_EQ(p["requested_by"], manager_id_);
    EXPECT_FALSE(p["reason"].is_null());
  }
  EXPECT_EQ(amounts, (std::vector<std::int64_t>{1000, 1500, 2500}));
  EXPECT_EQ(count("SELECT count(*) FROM notifications WHERE kind = 'refund_issued' AND "
                  "recipient_id = " +
                  std::to_string(buyer_id)),
            3);
  auto rows = audit_rows("customer_order.refund", order);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(nlohmann::json::parse(rows[1][1].as<std::string>())["refunded_cents"], 1000);
  EXPECT_EQ(nlohmann::json::parse(rows[1][2].as<std::string>())["refunded_cents"], 2500);
  EXPECT_EQ(nlohmann::json::parse(rows[1][2].as<std::string>())["amount_cents"], 1500);
  EXPECT_EQ(rows[1][3].as<std::string>(), "late delivery goodwill");

  // The customer's own cancel afterwards refunds nothing more (all of it went back already).
  auto cancelled =
      pub("POST", "/v1/orders/" + std::to_string(order) + "/cancel", std::nullopt, buyer);
  ASSERT_EQ(cancelled.status, 200) << describe(cancelled);
  EXPECT_EQ(cancelled.body["state"], "cancelled");
  EXPECT_EQ(sandbox_->total_refunds(), 3);
  EXPECT_EQ(count("SELECT count(*) FROM payments WHERE kind = 'refund' AND order_id = " +
                  std::to_string(order)),
            3);
}

TEST_F(OnBehalfTest, RefusalsNameWhatIsWrong) {
  const auto buyer = customer("refused");
  auto declined = buy(buyer, {listed_product("Declined hat", 700)},
                      domain::SandboxPaymentProvider::kCardDeclined);
  ASSERT_EQ(declined.status, 201);
  const auto failed = declined.body["id"].get<std::int64_t>();
  const auto paid = order_bought(buyer, 1100, "Paid belt");

  // Nothing was charged: no refund, 409 naming the state.
  auto r = order_action(failed, "refund", {{"reason", "goodwill"}});
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(r.code(), "illegal_transition");
  EXPECT_EQ(r.body["error"]["details"]["from"], "payment_failed");
  // A reason is required, one line, 1..500 characters; amounts are positive.
  for (const auto& body :
       {nlohmann::json::object(), nlohmann::json{{"reason", "   "}},
        nlohmann::json{{"reason", "a\nb"}}, nlohmann::json{{"reason", std::string(501, 'x')}},
        nlohmann::json{{"reason", "ok"}, {"amount_cents", 0}},
        nlohmann::json{{"reason", "ok"}, {"extra", 1}}}) {
    auto bad = order_action(paid, "refund", body);
    EXPECT_EQ(bad.status, 400) << body.dump() << ": " << describe(bad);
    EXPECT_EQ(bad.code(), body.contains("extra") ? "unknown_field" : "invalid_field")
        << body.dump();
  }
  auto no_reason = order_action(paid, "cancel", nlohmann::json::object());
  EXPECT_EQ(no_reason.status, 400);
  EXPECT_NE(no_reason.raw.find("reason"), std::string::npos) << describe(no_reason);
  EXPECT_EQ(sandbox_->total_refunds(), 0);
  EXPECT_EQ(order_case(paid).body["order"]["state"], "paid") << "nothing happened";
  // Unknown ids: 404 for every read and action.
  EXPECT_EQ(order_case(999999).status, 404);
  EXPECT_EQ(internal("GET", "/internal/v1/donations/999999", std::nullopt, manager_).status, 404);
  for (const auto* action : {"cancel", "refund", "resend-pickup-code"}) {
    EXPECT_EQ(order_action(999999, action, {{"reason", "who?"}}).status, 404) << action;
  }
  // Only staff with the permission act: a packer may not even read.
  EXPECT_EQ(internal("POST", "/internal/v1/buying-orders/" + std::to_string(paid) + "/refund",
                     nlohmann::json{{"reason", "mine"}}, packer_)
                .status,
            403);
  EXPECT_EQ(count("SELECT count(*) FROM audit_log WHERE action LIKE 'customer_order.%' AND "
                  "outcome = 'ok'"),
            0);
}

TEST_F(OnBehalfTest, ResendingThePickupCodeNotifiesAgainWithTheSameToken) {
  std::int64_t buyer_id = 0;
  const auto buyer = customer("forgetful", &buyer_id);
  const auto order = order_bought(buyer, 3100, "Blue jeans");
  // Not ready yet: refused naming the state.
  auto early = order_action(order, "resend-pickup-code", {{"reason", "customer asked"}});
  EXPECT_EQ(early.status, 409);
  EXPECT_EQ(early.body["error"]["details"]["from"], "paid");

  const auto shipping = deliver(order);
  auto ready = pub("GET", "/v1/orders/" + std::to_string(order), std::nullopt, buyer);
  ASSERT_EQ(ready.body["state"], "ready_for_pickup") << describe(ready);
  const auto token_id = ready.body["pickup"]["token"]["token_id"].get<std::string>();

  auto resent = order_action(order, "resend-pickup-code", {{"reason", "lost the mail"}});
  ASSERT_EQ(resent.status, 200) << describe(resent);
  auto notes = query(
      "SELECT payload->>'qr_path', payload->>'box_id' FROM notifications WHERE kind = "
      "'pickup_code_resent' AND recipient_id = " +
      std::to_string(buyer_id));
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_EQ(notes[0][0].as<std::string>(), "/v1/orders/" + std::to_string(order) + "/qr.png");
  EXPECT_EQ(notes[0][1].as<std::string>(), box_);
  // The same token: no second one was issued, and the app still shows it.
  EXPECT_EQ(count("SELECT count(*) FROM issued_tokens WHERE action = 'pickup' AND order_ref = " +
                  std::to_string(order)),
            1);
  EXPECT_EQ(pub("GET", "/v1/orders/" + std::to_string(order), std::nullopt, buyer)
                .body["pickup"]["token"]["token_id"],
            token_id);
  ASSERT_EQ(order_action(order, "resend-pickup-code", {{"reason", "again"}}).status, 200);
  auto rows = audit_rows("customer_order.resend_pickup_code", order);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(rows[1][1].as<std::string>())["resent"], 1);
  EXPECT_EQ(nlohmann::json::parse(rows[1][2].as<std::string>())["resent"], 2);

  // The case view: the token, the internal orders with the label, the usual actors.
  auto view = order_case(order);
  ASSERT_EQ(view.status, 200);
  EXPECT_TRUE(view.body["order"]["pickup"]["token"].is_null()) << "no token text for staff";
  ASSERT_EQ(view.body["tokens"].size(), 1u);
  EXPECT_EQ(view.body["tokens"][0]["token_id"], token_id);
  EXPECT_TRUE(view.body["tokens"][0]["consumed"].is_null());
  bool saw_shipping = false;
  for (const auto& t : view.body["internal_orders"]) {
    if (t["id"] == shipping) {
      saw_shipping = true;
      EXPECT_FALSE(t["tracking_code"].is_null());
    }
  }
  EXPECT_TRUE(saw_shipping);
  EXPECT_EQ(view.body["history"].back()["to"], "ready_for_pickup");
  EXPECT_EQ(view.body["history"].back()["actor"]["kind"], "box");
  EXPECT_EQ(view.body["history"].back()["actor"]["recorded"], false);

  // The pickup consumes the token: the view names the box event.
  const int compartment = view.body["order"]["pickup"]["compartment"].get<int>();
  visit(compartment, TokenAction::kPickup, token_id, order);
  view = order_case(order);
  EXPECT_EQ(view.body["order"]["state"], "completed");
  ASSERT_TRUE(view.body["tokens"][0]["consumed"].is_object()) << view.body.dump();
  EXPECT_GT(view.body["tokens"][0]["consumed"]["box_seq"].get<std::int64_t>(), 0);
  auto late = order_action(order, "resend-pickup-code", {{"reason", "too late"}});
  EXPECT_EQ(late.status, 409);
  EXPECT_EQ(late.body["error"]["details"]["from"], "completed");
}

TEST_F(OnBehalfTest, AReturnAfterAPartialRefundRefundsOnlyTheRest) {
  const auto buyer = customer("returner");
  const auto order = order_bought(buyer, 3000, "Evening dress");
  deliver(order);
  auto ready = pub("GET", "/v1/orders/" + std::to_string(order), std::nullopt, buyer);
  const int compartment = ready.body["pickup"]["compartment"].get<int>();
  visit(compartment, TokenAction::kPickup,
        ready.body["pickup"]["token"]["token_id"].get<std::string>(), order);
  ASSERT_EQ(order_case(order).body["order"]["state"], "completed");
  // Goodwill after the pickup: the order stays completed.
  auto goodwill = order_action(order, "refund", {{"amount_cents", 1000}, {"reason", "torn hem"}});
  ASSERT_EQ(goodwill.status, 200) << describe(goodwill);
  EXPECT_EQ(goodwill.body["order"]["state"], "completed");

  // The customer returns it anyway: the checked return refunds the 2000 that are left.
  auto ret = pub("POST", "/v1/orders/" + std::to_string(order) + "/return",
                 nlohmann::json{{"location_id", location_}}, buyer);
  ASSERT_EQ(ret.status, 200) << describe(ret);
  const auto return_compartment = ret.body["return"]["compartment"].get<int>();
  visit(return_compartment, TokenAction::kReturn,
        ret.body["return"]["token"]["token_id"].get<std::string>(), order);
  auto collect =
      internal("POST", "/internal/v1/boxes/" + box_ + "/collect", std::nullopt, manager_);
  ASSERT_EQ(collect.status, 201) << describe(collect);
  const auto collecting = collect.body["id"].get<std::int64_t>();
  ASSERT_EQ(assign(collecting, delivery_id_).status, 200);
  visit(return_compartment, TokenAction::kCourierCollect,
        get_task(collecting, delivery_).body["token"]["token_id"].get<std::string>(), collecting);
  const auto checking = task_of("checking", order);
  ASSERT_NE(checking, 0);
  ASSERT_EQ(assign(checking, checker_id_).status, 200);
  ASSERT_EQ(internal("POST", "/internal/v1/orders/" + std::to_string(checking) + "/items/1/grade",
                     nlohmann::json{{"grade", "publish"}}, checker_)
                .status,
            200);
  auto view = order_case(order);
  EXPECT_EQ(view.body["order"]["state"], "refunded");
  EXPECT_EQ(count("SELECT count(*) FROM payments WHERE kind = 'refund' AND state = 'succeeded' "
                  "AND amount_cents = 2000 AND idempotency_key = 'order-" +
                  std::to_string(order) + "-refund'"),
            1);
  EXPECT_EQ(view.body["refunded_cents"], 3000);
  EXPECT_EQ(sandbox_->net_amount(charge_ref(order)), 0);
  // The collecting order that fetched the return carries a label the search finds.
  const auto label = get_task(collecting, manager_).body["tracking_code"].get<std::string>();
  EXPECT_EQ(ids(search("tracking_code=" + label, manager_)), std::vector<std::int64_t>{order});
  EXPECT_EQ(order_action(order, "refund", {{"reason", "more"}}).code(), "nothing_to_refund");
}

}  // namespace
}  // namespace reclothes::controller::testing
