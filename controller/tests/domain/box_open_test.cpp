// The online open's pure rules: which reservation a box-code scan opens, and whether a new
// open_access command may go out (docs/orders.md, "Opening a box online").
#include "reclothes/controller/domain/box_open.h"

#include <gtest/gtest.h>

#include <vector>

namespace reclothes::controller::domain {
namespace {

constexpr const char* kToken = "0123456789abcdef";
constexpr std::int64_t kNow = 1'767'225'600'000;
constexpr std::int64_t kPendingMs = 120'000;

LiveAccess access(std::int64_t order_id, int compartment) {
  return {order_id, "deposit", TokenAction::kDeposit, compartment, kToken, 1'767'229'200};
}

TEST(ChooseAccess, TheOnlyReservationIsChosen) {
  const std::vector<LiveAccess> live{access(7, 3)};
  const AccessChoice c = choose_access(live, std::nullopt);
  EXPECT_EQ(c.problem, AccessChoiceProblem::kNone);
  ASSERT_TRUE(c.chosen.has_value());
  EXPECT_EQ(c.chosen->order_id, 7);
  EXPECT_EQ(choose_access(live, 7).chosen, c.chosen);
}

TEST(ChooseAccess, SeveralNeedAnOrderId) {
  const std::vector<LiveAccess> live{access(7, 3), access(9, 4)};
  EXPECT_EQ(choose_access(live, std::nullopt).problem, AccessChoiceProblem::kAmbiguous);
  const AccessChoice c = choose_access(live, 9);
  EXPECT_EQ(c.problem, AccessChoiceProblem::kNone);
  EXPECT_EQ(c.chosen->compartment, 4);
  EXPECT_EQ(choose_access(live, 8).problem, AccessChoiceProblem::kNotAmongThem);
}

TEST(ChooseAccess, NothingThere) {
  EXPECT_EQ(choose_access({}, std::nullopt).problem, AccessChoiceProblem::kNothing);
  EXPECT_EQ(choose_access({}, 7).problem, AccessChoiceProblem::kNothing);
  EXPECT_FALSE(choose_access({}, 7).chosen.has_value());
}

TEST(DecideOpen, TheFirstRequestSendsAttemptOne) {
  const OpenDecision d = decide_open({}, kToken, kNow, kPendingMs);
  EXPECT_EQ(d.step, OpenStep::kSend);
  EXPECT_EQ(d.command_id, "access-0123456789abcdef-1");
}

TEST(DecideOpen, ARetryWhileTheFirstIsOnItsWaySendsNothing) {
  const std::vector<PriorOpen> prior{{"access-0123456789abcdef-1", kNow - 5'000, std::nullopt, ""}};
  const OpenDecision d = decide_open(prior, kToken, kNow, kPendingMs);
  EXPECT_EQ(d.step, OpenStep::kPending);
  EXPECT_EQ(d.command_id, "access-0123456789abcdef-1");
}

TEST(DecideOpen, AfterTheDoorOpenedNothingMoreIsSent) {
  // The customer closed the door and scans the box again: the token is single use.
  const std::vector<PriorOpen> prior{{"access-0123456789abcdef-1", kNow - 5'000, true, "ok"}};
  const OpenDecision d = decide_open(prior, kToken, kNow + 3'600'000, kPendingMs);
  EXPECT_EQ(d.step, OpenStep::kAlreadyOpened);
  EXPECT_EQ(d.command_id, "access-0123456789abcdef-1");
}

TEST(DecideOpen, ATransientRefusalOrALostCommandAllowsANewAttempt) {
  for (const char* code : {"expired", "not_delivered", "door_open", "compartment_busy",
                           "not_reserved", "maintenance"}) {
    SCOPED_TRACE(code);
    const std::vector<PriorOpen> prior{{"access-0123456789abcdef-1", kNow - 5'000, false, code}};
    const OpenDecision d = decide_open(prior, kToken, kNow, kPendingMs);
    EXPECT_EQ(d.step, OpenStep::kSend);
    EXPECT_EQ(d.command_id, "access-0123456789abcdef-2");
  }
  // No result after the pending window: taken as lost (the box refuses it as expired).
  const std::vector<PriorOpen> lost{
      {"access-0123456789abcdef-1", kNow - 121'000, std::nullopt, ""}};
  EXPECT_EQ(decide_open(lost, kToken, kNow, kPendingMs).step, OpenStep::kSend);
}

TEST(DecideOpen, UsedOrRevokedAtTheBoxIsFinal) {
  for (const char* code : {"already_used", "revoked"}) {
    SCOPED_TRACE(code);
    // In either order and with equal times (two attempts in one clock tick): the token stays used.
    const PriorOpen expired{"access-0123456789abcdef-1", kNow - 5'000, false, "expired"};
    const PriorOpen refused{"access-0123456789abcdef-2", kNow - 5'000, false, code};
    for (const auto& prior :
         {std::vector<PriorOpen>{expired, refused}, std::vector<PriorOpen>{refused, expired}}) {
      const OpenDecision d = decide_open(prior, kToken, kNow, kPendingMs);
      EXPECT_EQ(d.step, OpenStep::kRefused);
      EXPECT_EQ(d.code, code);
      EXPECT_EQ(d.command_id, "access-0123456789abcdef-2");
    }
  }
}

TEST(DecideOpen, AttemptsAreBounded) {
  std::vector<PriorOpen> prior;
  for (int i = 1; i <= kMaxOpenAttempts; ++i) {
    prior.push_back({access_command_id(kToken, i), kNow - 200'000 + i, false, "door_open"});
  }
  const OpenDecision d = decide_open(prior, kToken, kNow, kPendingMs);
  EXPECT_EQ(d.step, OpenStep::kRefused);
  EXPECT_EQ(d.code, "too_many_attempts");
}

}  // namespace
}  // namespace reclothes::controller::domain
