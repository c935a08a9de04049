// The donating orders' store called directly: a transaction of the controller's pool, plain
// values, and the StoreResult it returns (real PostgreSQL; the box events as hook calls inside a
// transaction, as the event batch runs them).
#include <optional>
#include <type_traits>

#include "../../src/domain/store/donation_store.h"
#include "../../src/domain/store/shared.h"
#include "domain_fixture.h"

namespace reclothes::controller::testing {
namespace {

using domain::DonationItem;
using domain::NewDonation;

constexpr std::int64_t kDayMs = 86400 * 1000;

class StoreDonationTest : public DomainTest {
 protected:
  void SetUp() override {
    DomainTest::SetUp();
    add_fleet({"S", "M"});
    d_ = std::make_unique<domain::DomainContext>(
        domain::DomainContext{controller_->services(), config_.domain, nullptr, nullptr, nullptr});
    alice_ = register_customer("alice@example.org");
    bob_ = register_customer("bob@example.org");
  }
  void TearDown() override {
    d_.reset();
    DomainTest::TearDown();
  }

  // Runs a store function in a transaction of the controller's pool and returns its result; the
  // transaction commits only when the store succeeded (as the router does).
  template <typename F>
  auto in_tx(F&& f) -> std::invoke_result_t<F, pqxx::work&> {
    std::optional<std::invoke_result_t<F, pqxx::work&>> out;
    const auto st = controller_->db().with_transaction([&](pqxx::work& tx) -> Status {
      out.emplace(f(tx));
      if (!out->ok()) return make_error(ErrorCode::kFailedPrecondition, "store refused");
      return ok_status();
    });
    if (!out) ADD_FAILURE() << "the transaction did not run: " << st.error().to_string();
    return std::move(*out);
  }

  // Runs a box-event hook inside a committed transaction, at the clock's time.
  void apply(Status (*hook)(domain::DomainContext&, pqxx::work&, const BoxEventContext&,
                            const msg::Event&),
             const msg::Event& e) {
    const auto st = controller_->db().with_transaction([&](pqxx::work& tx) -> Status {
      return hook(*d_, tx, BoxEventContext{box_, clock_.wall_ms()}, e);
    });
    ASSERT_TRUE(st.ok()) << st.error().to_string();
  }

  static msg::Event access(int compartment, TokenAction action, std::int64_t order_ref) {
    msg::Event e;
    e.kind = msg::EventKind::kAccessCompleted;
    e.compartment = compartment;
    e.action = action;
    e.order_ref = static_cast<std::uint64_t>(order_ref);
    return e;
  }

  NewDonation tops(std::int64_t customer, int count = 1) const {
    return NewDonation{customer, location_, {DonationItem{"tops", count, ""}}};
  }

  // Creates a donation through the store; returns its JSON.
  nlohmann::json donate(const NewDonation& req) {
    auto created =
        in_tx([&](pqxx::work& tx) { return domain::create_donation(*d_, tx, req, now()); });
    EXPECT_TRUE(created.ok()) << created.error().message;
    return created.ok() ? created->donation : nlohmann::json();
  }

  domain::StoreResult<domain::DonationChange> cancel(std::int64_t customer, std::int64_t id) {
    return in_tx(
        [&](pqxx::work& tx) { return domain::cancel_donation(*d_, tx, customer, id, now()); });
  }

  std::int64_t now() const { return clock_.wall_ms(); }

  std::string state_of(std::int64_t id) {
    return query("SELECT state FROM donations WHERE id = " + std::to_string(id))[0][0]
        .as<std::string>();
  }
  std::string hold_phase(int compartment) {
    const auto r = query("SELECT phase FROM compartment_holds WHERE box_id = '" + box_ +
                         "' AND compartment = " + std::to_string(compartment));
    return r.empty() ? "" : r[0][0].as<std::string>();
  }

  std::unique_ptr<domain::DomainContext> d_;
  std::int64_t alice_ = 0;
  std::int64_t bob_ = 0;
};

// ---- create_donation ----------------------------------------------------------------------------

TEST_F(StoreDonationTest, CreateReservesTheSmallestFittingCompartmentAndNamesTheBox) {
  // 2 tops (4 units) + 1 pair of shoes (4 units): an M compartment (number 2 here).
  auto created = in_tx([&](pqxx::work& tx) {
    return domain::create_donation(
        *d_, tx, NewDonation{alice_, location_, {{"tops", 2, "like new"}, {"shoes", 1, ""}}},
        now());
  });
  ASSERT_TRUE(created.ok()) << created.error().message;
  const auto& j = created->donation;
  EXPECT_EQ(j["state"], "reserved");
  EXPECT_EQ(j["customer_id"], alice_);
  EXPECT_EQ(j["size_class"], "M");
  EXPECT_EQ(j["compartment"], 2);
  EXPECT_EQ(j["reserved_until"], ts(now() + kDayMs));
  ASSERT_EQ(j["items"].size(), 2u);
  EXPECT_EQ(j["items"][0]["condition_notes"], "like new");
  EXPECT_EQ(j["items"][1]["category"], "shoes");
  EXPECT_EQ(j["token"]["token"].get<std::string>().rfind("RC1:", 0), 0u);
  // The route publishes this box's config; a new donation revokes nothing.
  EXPECT_EQ(created->box_id, box_);
  EXPECT_FALSE(created->revoke);
  const auto id = std::to_string(j["id"].get<std::int64_t>());
  EXPECT_EQ(hold_phase(2), "reserved");
  EXPECT_EQ(count("SELECT count(*) FROM compartment_reservations WHERE order_ref = " + id +
                  " AND action = 'deposit'"),
            1);
}

TEST_F(StoreDonationTest, CreateRefusesATooLargeDonation) {
  auto r = in_tx([&](pqxx::work& tx) {
    return domain::create_donation(*d_, tx, NewDonation{alice_, location_, {{"outerwear", 9, ""}}},
                                   now());
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorCode::kInvalidArgument);
  EXPECT_EQ(r.error().code, "donation_too_large");
  EXPECT_EQ(count("SELECT count(*) FROM donations"), 0);
}

TEST_F(StoreDonationTest, CreateRefusesAnUnknownLocation) {
  auto r = in_tx([&](pqxx::work& tx) {
    return domain::create_donation(*d_, tx, NewDonation{alice_, 999999, {{"tops", 1, ""}}}, now());
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorCode::kNotFound);
  EXPECT_EQ(r.error().code, "not_found");
  EXPECT_EQ(r.error().message, "location 999999 not found");
}

TEST_F(StoreDonationTest, CreateConflictsWhenNoCompartmentIsFree) {
  donate(tops(alice_));  // S
  donate(tops(alice_));  // M (the next larger)
  auto r =
      in_tx([&](pqxx::work& tx) { return domain::create_donation(*d_, tx, tops(bob_), now()); });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(r.error().code, "no_compartment_available");
  EXPECT_EQ(r.error().details, (nlohmann::json{{"location_id", location_}, {"size_class", "S"}}));
  EXPECT_EQ(count("SELECT count(*) FROM donations"), 2);
}

// ---- list_donations, get_donation ---------------------------------------------------------------

TEST_F(StoreDonationTest, ListHoldsOnlyTheCustomersDonationsNewestFirst) {
  const auto first = donate(tops(alice_))["id"];
  const auto bobs = donate(tops(bob_))["id"].get<std::int64_t>();
  auto none = in_tx([&](pqxx::work& tx) { return domain::list_donations(tx, 424242); });
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, nlohmann::json::array());
  // Bob cancels: room for Alice's second donation.
  ASSERT_TRUE(cancel(bob_, bobs).ok());
  const auto second = donate(tops(alice_))["id"];
  auto list = in_tx([&](pqxx::work& tx) { return domain::list_donations(tx, alice_); });
  ASSERT_TRUE(list.ok()) << list.error().message;
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0]["id"], second);
  EXPECT_EQ((*list)[1]["id"], first);
  EXPECT_TRUE((*list)[0]["token"].is_object());
}

TEST_F(StoreDonationTest, GetReturnsTheOwnDonationAndRefusesOthers) {
  const auto id = donate(tops(alice_))["id"].get<std::int64_t>();
  auto own = in_tx([&](pqxx::work& tx) { return domain::get_donation(tx, alice_, id); });
  ASSERT_TRUE(own.ok());
  EXPECT_EQ((*own)["id"], id);

  auto missing = in_tx([&](pqxx::work& tx) { return domain::get_donation(tx, alice_, id + 1000); });
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorCode::kNotFound);
  EXPECT_EQ(missing.error().message, "donation not found");
  EXPECT_FALSE(missing.error().is_not_owner());

  // Another customer's: not_owner (the route audits it and answers 404).
  auto foreign = in_tx([&](pqxx::work& tx) { return domain::get_donation(tx, bob_, id); });
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.error().kind, ErrorCode::kNotFound);
  EXPECT_TRUE(foreign.error().is_not_owner());
  EXPECT_EQ(foreign.error().message, "donation");
  EXPECT_EQ(foreign.error().not_owner_id(), id);
}

// ---- cancel_donation ----------------------------------------------------------------------------

TEST_F(StoreDonationTest, CancelFreesTheCompartmentAndReturnsTheRevokeCommand) {
  const auto created = donate(tops(alice_));
  const auto id = created["id"].get<std::int64_t>();
  const auto token_id = created["token"]["token_id"].get<std::string>();
  auto cancelled = cancel(alice_, id);
  ASSERT_TRUE(cancelled.ok()) << cancelled.error().message;
  EXPECT_EQ(cancelled->donation["state"], "cancelled");
  EXPECT_TRUE(cancelled->donation["token"].is_null());
  EXPECT_EQ(cancelled->box_id, box_);
  ASSERT_TRUE(cancelled->revoke);
  EXPECT_EQ(cancelled->revoke->op, msg::CommandOp::kRevoke);
  EXPECT_EQ(cancelled->revoke->token_ids, std::vector<std::string>{token_id});
  EXPECT_EQ(cancelled->revoke->reason.value_or(""), "donation cancelled");
  EXPECT_EQ(hold_phase(1), "");
  EXPECT_EQ(count("SELECT count(*) FROM revoked_tokens WHERE token_id = '" + token_id + "'"), 1);
  // The compartment is free again.
  EXPECT_EQ(donate(tops(bob_))["compartment"], 1);
}

TEST_F(StoreDonationTest, CancellingTwiceIsAnIllegalTransition) {
  const auto id = donate(tops(alice_))["id"].get<std::int64_t>();
  ASSERT_TRUE(cancel(alice_, id).ok());
  auto again = cancel(alice_, id);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().kind, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(again.error().code, "illegal_transition");
  EXPECT_EQ(
      again.error().details,
      (nlohmann::json{{"order_kind", "donating"}, {"from", "cancelled"}, {"event", "cancel"}}));
}

TEST_F(StoreDonationTest, CancelRefusesMissingAndOthersDonationsAndChangesNothing) {
  const auto id = donate(tops(alice_))["id"].get<std::int64_t>();
  auto foreign = cancel(bob_, id);
  ASSERT_FALSE(foreign.ok());
  EXPECT_TRUE(foreign.error().is_not_owner());
  auto missing = cancel(alice_, id + 1000);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "not_found");
  EXPECT_EQ(state_of(id), "reserved");
  EXPECT_EQ(hold_phase(1), "reserved");
}

// ---- deposit_token_text -------------------------------------------------------------------------

TEST_F(StoreDonationTest, DepositTokenTextIsTheReservedDonationsToken) {
  const auto created = donate(tops(alice_));
  const auto id = created["id"].get<std::int64_t>();
  auto text = in_tx([&](pqxx::work& tx) { return domain::deposit_token_text(tx, alice_, id); });
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, created["token"]["token"]);

  auto foreign = in_tx([&](pqxx::work& tx) { return domain::deposit_token_text(tx, bob_, id); });
  ASSERT_FALSE(foreign.ok());
  EXPECT_TRUE(foreign.error().is_not_owner());
}

TEST_F(StoreDonationTest, DepositTokenTextConflictsOnceTheDonationIsNotReserved) {
  const auto id = donate(tops(alice_))["id"].get<std::int64_t>();
  ASSERT_TRUE(cancel(alice_, id).ok());
  auto text = in_tx([&](pqxx::work& tx) { return domain::deposit_token_text(tx, alice_, id); });
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.error().kind, ErrorCode::kFailedPrecondition);
  EXPECT_EQ(text.error().code, "no_token");
  EXPECT_EQ(text.error().message, "the donation has no usable deposit token");
}

// ---- box-event hooks ----------------------------------------------------------------------------

TEST_F(StoreDonationTest, DepositFillsTheReservedCompartment) {
  const auto id = donate(tops(alice_))["id"].get<std::int64_t>();
  // A deposit naming another compartment or an unknown order is ignored.
  apply(domain::on_deposit, access(2, TokenAction::kDeposit, id));
  apply(domain::on_deposit, access(1, TokenAction::kDeposit, id + 1000));
  EXPECT_EQ(state_of(id), "reserved");

  apply(domain::on_deposit, access(1, TokenAction::kDeposit, id));
  EXPECT_EQ(state_of(id), "deposited");
  EXPECT_EQ(hold_phase(1), "filled");
  EXPECT_EQ(count("SELECT count(*) FROM compartment_reservations"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM donations WHERE deposited_at IS NOT NULL"), 1);
  // One filled compartment is under the threshold (2): no collecting order yet.
  EXPECT_EQ(last_task("collecting"), 0);
}

TEST_F(StoreDonationTest, ALateDepositAfterCancellingTakesTheCompartmentBack) {
  const auto id = donate(tops(alice_))["id"].get<std::int64_t>();
  ASSERT_TRUE(cancel(alice_, id).ok());
  EXPECT_EQ(hold_phase(1), "");
  apply(domain::on_deposit, access(1, TokenAction::kDeposit, id));
  EXPECT_EQ(state_of(id), "deposited");
  EXPECT_EQ(hold_phase(1), "filled");
}

TEST_F(StoreDonationTest, AFullFillLevelMakesACollectingOrderAndTheCourierCollectMovesItOn) {
  const auto id = donate(tops(alice_))["id"].get<std::int64_t>();
  apply(domain::on_deposit, access(1, TokenAction::kDeposit, id));
  msg::Event level;
  level.kind = msg::EventKind::kFillLevel;
  level.compartment = 1;
  level.fill_percent = 50;
  apply(domain::on_fill_level, level);
  EXPECT_EQ(last_task("collecting"), 0);
  level.fill_percent = 95;
  apply(domain::on_fill_level, level);
  const auto collecting = last_task("collecting");
  ASSERT_NE(collecting, 0);

  // A compartment outside the collecting order is ignored.
  apply(domain::on_courier_collect, access(2, TokenAction::kCourierCollect, collecting));
  EXPECT_EQ(state_of(id), "deposited");

  apply(domain::on_courier_collect, access(1, TokenAction::kCourierCollect, collecting));
  EXPECT_EQ(state_of(id), "collected");
  EXPECT_NE(task_of("checking", id), 0);
  EXPECT_EQ(hold_phase(1), "");
  EXPECT_EQ(count("SELECT count(*) FROM collecting_items WHERE collected_at IS NULL"), 0);
  // Collected again (a replayed event): nothing more happens.
  apply(domain::on_courier_collect, access(1, TokenAction::kCourierCollect, collecting));
  EXPECT_EQ(count("SELECT count(*) FROM internal_orders WHERE kind = 'checking'"), 1);
}

// ---- worker passes ------------------------------------------------------------------------------

TEST_F(StoreDonationTest, ExpiryFreesRunOutReservationsAndTellsTheDonor) {
  const auto id = donate(tops(alice_))["id"].get<std::int64_t>();
  const auto expire_at = [&](std::int64_t at, int* expired) {
    std::vector<std::string> boxes;
    const auto st = controller_->db().with_transaction([&](pqxx::work& tx) -> Status {
      boxes = domain::expire_donations(*d_, tx, at, expired);
      return ok_status();
    });
    EXPECT_TRUE(st.ok());
    return boxes;
  };
  int expired = 0;
  EXPECT_TRUE(expire_at(now() + kDayMs - 1, &expired).empty());
  EXPECT_EQ(expired, 0);
  EXPECT_EQ(expire_at(now() + kDayMs, &expired), std::vector<std::string>{box_});
  EXPECT_EQ(expired, 1);
  EXPECT_EQ(state_of(id), "expired");
  EXPECT_EQ(hold_phase(1), "");
  EXPECT_EQ(count("SELECT count(*) FROM notifications WHERE kind = 'reservation_expired' AND "
                  "recipient_id = " +
                  std::to_string(alice_)),
            1);
}

TEST_F(StoreDonationTest, TheExpiryWarningGoesOutOncePerDonation) {
  donate(tops(alice_));
  const auto warn_at = [&](std::int64_t at) {
    int warned = -1;
    const auto st = controller_->db().with_transaction([&](pqxx::work& tx) -> Status {
      warned = domain::warn_expiring_donations(*d_, tx, at);
      return ok_status();
    });
    EXPECT_TRUE(st.ok());
    return warned;
  };
  // The warning period is 2 h before the reservation's end.
  EXPECT_EQ(warn_at(now() + kDayMs - 2 * 3600 * 1000 - 1), 0);
  EXPECT_EQ(warn_at(now() + kDayMs - 3600 * 1000), 1);
  EXPECT_EQ(warn_at(now() + kDayMs - 1800 * 1000), 0);
  EXPECT_EQ(count("SELECT count(*) FROM notifications WHERE kind = 'reservation_expiring'"), 1);
}

// ---- database failures --------------------------------------------------------------------------

TEST_F(StoreDonationTest, AStatementTheDatabaseRefusesComesBackAsAnInternalDomainError) {
  auto r = in_tx([&](pqxx::work& tx) {
    tx.exec("SET TRANSACTION READ ONLY");
    return domain::create_donation(*d_, tx, tops(alice_), now());
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorCode::kInternal);
  EXPECT_NE(r.error().cause.find("read-only transaction"), std::string::npos) << r.error().cause;
  EXPECT_EQ(count("SELECT count(*) FROM donations"), 0);
}

TEST_F(StoreDonationTest, ALostConnectionComesBackAsARetryableDomainError) {
  const auto id = donate(tops(alice_))["id"].get<std::int64_t>();
  auto r = in_tx([&](pqxx::work& tx) {
    // The transaction's connection goes away under it. (Not pg_terminate_backend: libpqxx 6.4
    // leaks the PGresult of a statement whose connection the server closed.)
    tx.conn().disconnect();
    return domain::cancel_donation(*d_, tx, alice_, id, now());
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().kind, ErrorCode::kUnavailable) << r.error().cause;
  EXPECT_FALSE(r.error().cause.empty());
  EXPECT_EQ(state_of(id), "reserved");
}

}  // namespace
}  // namespace reclothes::controller::testing
