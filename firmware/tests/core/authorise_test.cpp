#include "reclothes/firmware/authorise.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace reclothes::firmware {
namespace {

using S = CompartmentState;
using testing::claims_for;
using testing::kTestNowS;

AuthRequest request(TokenAction action, std::vector<std::uint8_t> compartments) {
  AuthRequest r;
  r.claims = claims_for(action, std::move(compartments), 77);
  for (int id = 1; id <= 4; ++id) r.compartments.push_back({id, S::kFree, false});
  r.now_s = kTestNowS;
  r.reservation_grace_s = 60;
  return r;
}

msg::Reservation reservation(int compartment, TokenAction action, std::uint64_t order_ref = 77,
                             std::int64_t until = kTestNowS + 3600) {
  return msg::Reservation{compartment, order_ref, action, until};
}

TEST(Authorise, ADepositWithItsReservationOpensThatCompartment) {
  AuthRequest r = request(TokenAction::kDeposit, {3});
  r.compartments[2].state = S::kReserved;
  r.reservations = {reservation(3, TokenAction::kDeposit)};
  AuthDecision d = authorise(r);
  ASSERT_TRUE(d.accepted) << d.reason;
  EXPECT_EQ(d.compartments, std::vector<int>{3});
  EXPECT_TRUE(d.reason.empty());
}

struct Case {
  const char* name;
  std::function<void(AuthRequest&)> setup;
  const char* reason;
};

class AuthoriseRefuses : public ::testing::TestWithParam<Case> {};

TEST_P(AuthoriseRefuses, WithTheReason) {
  AuthRequest r = request(TokenAction::kDeposit, {3});
  r.compartments[2].state = S::kReserved;
  r.reservations = {reservation(3, TokenAction::kDeposit)};
  GetParam().setup(r);
  AuthDecision d = authorise(r);
  EXPECT_FALSE(d.accepted);
  EXPECT_EQ(d.reason, GetParam().reason);
  EXPECT_TRUE(d.compartments.empty());
}

const Case kCases[] = {
    {"revoked", [](AuthRequest& r) { r.revoked = true; }, "revoked"},
    {"revoked_wins_over_used",
     [](AuthRequest& r) {
       r.revoked = true;
       r.token_used = true;
     },
     "revoked"},
    {"maintenance", [](AuthRequest& r) { r.maintenance = true; }, "maintenance"},
    {"already_used", [](AuthRequest& r) { r.token_used = true; }, "already_used"},
    {"no_reservation", [](AuthRequest& r) { r.reservations.clear(); }, "not_reserved"},
    {"reservation_other_order", [](AuthRequest& r) { r.reservations[0].order_ref = 78; },
     "not_reserved"},
    {"reservation_other_action",
     [](AuthRequest& r) { r.reservations[0].action = TokenAction::kPickup; }, "not_reserved"},
    {"reservation_other_compartment", [](AuthRequest& r) { r.reservations[0].compartment = 2; },
     "not_reserved"},
    {"reservation_run_out_past_grace",
     [](AuthRequest& r) { r.reservations[0].until = kTestNowS - 60; }, "not_reserved"},
    {"compartment_unlocked", [](AuthRequest& r) { r.compartments[2].state = S::kUnlocked; },
     "compartment_busy"},
    {"compartment_open", [](AuthRequest& r) { r.compartments[2].state = S::kOpen; },
     "compartment_busy"},
    {"compartment_jammed", [](AuthRequest& r) { r.compartments[2].state = S::kJammed; },
     "compartment_busy"},
    {"compartment_forced", [](AuthRequest& r) { r.compartments[2].state = S::kForced; },
     "compartment_busy"},
    {"out_of_service", [](AuthRequest& r) { r.compartments[2].state = S::kOutOfService; },
     "out_of_service"},
    {"no_such_compartment", [](AuthRequest& r) { r.claims.compartments = {9}; },
     "wrong_compartment"},
};

INSTANTIATE_TEST_SUITE_P(Cases, AuthoriseRefuses, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& param_info) {
                           return std::string(param_info.param.name);
                         });

TEST(Authorise, AReservationInsideItsGraceStillCounts) {
  AuthRequest r = request(TokenAction::kPickup, {2});
  r.compartments[1] = {2, S::kOccupied, true};
  r.reservations = {reservation(2, TokenAction::kPickup, 77, kTestNowS - 30)};
  EXPECT_TRUE(authorise(r).accepted);
}

TEST(Authorise, ReturnNeedsAReturnReservation) {
  AuthRequest r = request(TokenAction::kReturn, {1});
  r.reservations = {reservation(1, TokenAction::kReturn)};
  EXPECT_TRUE(authorise(r).accepted);
  r.reservations = {reservation(1, TokenAction::kDeposit)};
  EXPECT_EQ(authorise(r).reason, "not_reserved");
}

TEST(Authorise, CourierTokensOpenEveryOpenableCompartmentInOrderEvenInMaintenance) {
  AuthRequest r = request(TokenAction::kCourierCollect, {1, 2, 3, 4});
  r.maintenance = true;
  r.compartments[0].state = S::kOccupied;
  r.compartments[1].state = S::kOutOfService;
  r.compartments[2].state = S::kOpen;
  r.used_compartments = {4};
  AuthDecision d = authorise(r);
  ASSERT_TRUE(d.accepted) << d.reason;
  EXPECT_EQ(d.compartments, std::vector<int>{1});
  r.used_compartments.clear();
  EXPECT_EQ(authorise(r).compartments, (std::vector<int>{1, 4}));
  // Courier tokens need no reservation.
  EXPECT_TRUE(r.reservations.empty());
}

TEST(Authorise, CourierTokenWithEverythingDoneIsAlreadyUsed) {
  AuthRequest r = request(TokenAction::kCourierLoad, {1, 2});
  r.used_compartments = {1, 2};
  EXPECT_EQ(authorise(r).reason, "already_used");
}

TEST(Authorise, CourierTokenWithNothingOpenableNowGivesTheFirstReason) {
  AuthRequest r = request(TokenAction::kCourierLoad, {1, 2});
  r.compartments[0].state = S::kOutOfService;
  r.compartments[1].state = S::kUnlocked;
  EXPECT_EQ(authorise(r).reason, "out_of_service");
}

TEST(Authorise, CourierTokenForCompartmentsThisBoxLacks) {
  AuthRequest r = request(TokenAction::kCourierLoad, {10, 11});
  EXPECT_EQ(authorise(r).reason, "wrong_compartment");
}

TEST(Authorise, CourierRevokedIsRefused) {
  AuthRequest r = request(TokenAction::kCourierLoad, {1});
  r.revoked = true;
  EXPECT_EQ(authorise(r).reason, "revoked");
}

TEST(Authorise, UsedKeysAreTheTokenIdOrPerCompartmentForCouriers) {
  const TokenClaims customer = claims_for(TokenAction::kPickup, {2});
  EXPECT_EQ(used_token_key(customer, 2), customer.token_id_hex());
  const TokenClaims courier = claims_for(TokenAction::kCourierLoad, {2, 5});
  EXPECT_EQ(used_token_key(courier, 5), courier.token_id_hex() + "#5");
}

}  // namespace
}  // namespace reclothes::firmware
