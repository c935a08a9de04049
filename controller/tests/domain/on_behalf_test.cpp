// The pure rules of customer service on a customer's behalf: who usually makes a state change
// (for history rows that did not record their actor), and what a reason must be.
#include "reclothes/controller/domain/on_behalf.h"

#include <gtest/gtest.h>

#include <string>

namespace reclothes::controller::domain {
namespace {

TEST(OnBehalf, UsualActorOfEachBuyingTransition) {
  EXPECT_EQ(usual_actor("buying", "", "payment_pending"), "customer");
  EXPECT_EQ(usual_actor("buying", "payment_pending", "paid"), "payment");
  EXPECT_EQ(usual_actor("buying", "payment_pending", "payment_failed"), "payment");
  EXPECT_EQ(usual_actor("buying", "paid", "packed"), "packer");
  EXPECT_EQ(usual_actor("buying", "packed", "shipping"), "courier");
  EXPECT_EQ(usual_actor("buying", "shipping", "ready_for_pickup"), "box");
  EXPECT_EQ(usual_actor("buying", "ready_for_pickup", "completed"), "box");
  EXPECT_EQ(usual_actor("buying", "return_requested", "completed"), "worker");
  EXPECT_EQ(usual_actor("buying", "paid", "cancelled"), "customer");
  EXPECT_EQ(usual_actor("buying", "completed", "return_requested"), "customer");
  EXPECT_EQ(usual_actor("buying", "return_collected", "refunded"), "checker");
  EXPECT_EQ(usual_actor("buying", "ready_for_pickup", "some_new_state"), "system");
}

TEST(OnBehalf, UsualActorOfEachDonatingTransition) {
  EXPECT_EQ(usual_actor("donating", "", "reserved"), "customer");
  EXPECT_EQ(usual_actor("donating", "reserved", "cancelled"), "customer");
  EXPECT_EQ(usual_actor("donating", "reserved", "deposited"), "box");
  EXPECT_EQ(usual_actor("donating", "expired", "deposited"), "box");
  EXPECT_EQ(usual_actor("donating", "reserved", "expired"), "worker");
  EXPECT_EQ(usual_actor("donating", "deposited", "collected"), "box");
  EXPECT_EQ(usual_actor("donating", "collected", "completed"), "checker");
  EXPECT_EQ(usual_actor("returning", "a", "b"), "system");
}

TEST(OnBehalf, AReasonIsOneLineOfOneTo500Characters) {
  EXPECT_EQ(reason_problem("customer called: wrong size"), "");
  EXPECT_EQ(reason_problem(std::string(500, 'x')), "");
  EXPECT_NE(reason_problem(""), "");
  EXPECT_NE(reason_problem("   \t "), "");
  EXPECT_NE(reason_problem(std::string(501, 'x')), "");
  EXPECT_NE(reason_problem("two\nlines"), "");
}

}  // namespace
}  // namespace reclothes::controller::domain
